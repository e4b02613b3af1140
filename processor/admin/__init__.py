"""What the commands share with Kafka outside the worker's loop: the declared topics
(create, check), producing records, reading topics to the end, the carrier registry
(import, read) and progress lines for long work."""
