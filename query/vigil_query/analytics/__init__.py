"""LLM analytics: usage.py (GetUsage), sessions.py (SearchSessions, GetSession), cost.py
(cost SQL from the price book), overview.py (GetOverview), prices/ (the price book and its
RPCs)."""
