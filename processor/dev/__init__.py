"""Development scaffolding, never deployed: the local Kafka broker, the seeded traffic
generator, the generated settings doc. No service imports it (import-linter)."""
