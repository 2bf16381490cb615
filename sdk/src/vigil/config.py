"""The SDK's settings: built once by ``vigil.init`` and read by the decorators and integrations.

The OTLP side (endpoint, headers, protocol, batching) is left to the OpenTelemetry SDK and its
standard ``OTEL_*`` variables; only what Vigil adds on top lives here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Called with the Python value about to be captured (the arguments as a dict, a return value,
#: or a list of prompt messages); returns what to capture instead.
Redactor = Callable[[Any], Any]

DEFAULT_MAX_VALUE_LENGTH = 32 * 1024

# The GenAI conventions' switch for message content; Vigil captures by default because replay
# needs the inputs, so only an explicit false turns it off.
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


@dataclass(frozen=True, slots=True)
class CaptureConfig:
    """How inputs, outputs and prompt messages become span attributes."""

    enabled: bool = True
    max_value_length: int = DEFAULT_MAX_VALUE_LENGTH
    redact: Redactor | None = None

    def __post_init__(self) -> None:
        if self.max_value_length < 64:
            raise ValueError(f"max_value_length must be at least 64 characters, got {self.max_value_length}")


def capture_enabled_from_env(default: bool = True) -> bool:
    raw = os.environ.get(CAPTURE_CONTENT_ENV)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() not in ("false", "0", "no", "off")


_current = CaptureConfig()


def current() -> CaptureConfig:
    return _current


def configure(config: CaptureConfig) -> None:
    global _current
    _current = config
