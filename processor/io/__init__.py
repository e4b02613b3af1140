"""Bytes in and out: the input event codec and its rejections, HEP v3 and SIP parsing,
every topic name and table key format, stored value formats, tables over RocksDB
partitions, which partition owns a carrier, and Kafka client options. Imports the domain;
no Faust."""
