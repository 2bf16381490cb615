"""The OTLP collector, laid out as its pipeline: receive → decode → wal (the ack) → batch → write."""
