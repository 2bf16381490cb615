"""Drift: query.py (GetDrift: one ClickHouse query → bin counts), psi.py (the PSI and its
thresholds), detector.py (the scheduled detector), alerts.py (vigil_drift_alerts)."""
