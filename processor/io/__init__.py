"""Bytes in and out: the input event codec and its rejections, stored value formats, which
partition owns a carrier, and Kafka client options. Imports the domain; no Faust."""
