"""The OTLP collector, laid out as its pipeline: receive → decode → batch → write."""
