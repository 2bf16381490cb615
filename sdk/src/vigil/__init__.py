"""Vigil Python SDK.

Today: a typed client for the query service (``QueryClient``). The tracing decorators and
the OpenAI/Anthropic instrumentation are planned (issue 5).
"""

from vigil.query_client import QueryClient, QueryError, span_filter

__version__ = "0.1.0"
__all__ = ["QueryClient", "QueryError", "__version__", "span_filter"]
