"""Reading otel_metrics_*: query.py (ListMetrics, QueryMetrics), histograms.py (quantiles
from bucket counts)."""
