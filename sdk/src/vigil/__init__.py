"""Vigil Python SDK.

The tracing decorators, LLM client instrumentation and query client are planned (issue 5);
for now this package only marks the SDK's place in the workspace and its version.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
