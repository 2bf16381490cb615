"""Turn arbitrary Python values into capped JSON strings for span attributes.

Capturing must never break the user's code: every failure ends in a placeholder string,
never an exception.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import enum
import json
import uuid
from typing import Any

from vigil.config import CaptureConfig

TRUNCATION_MARK = "…"
_REPR_LIMIT = 200


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = object.__repr__(value)
    return text if len(text) <= _REPR_LIMIT else text[:_REPR_LIMIT] + TRUNCATION_MARK


def _json_default(value: Any) -> Any:
    """Called by json.dumps for what it cannot encode itself."""
    try:
        dump = getattr(value, "model_dump", None)  # pydantic v2 models, and the OpenAI/Anthropic types
        if callable(dump):
            return dump(mode="json", exclude_none=True)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, datetime.datetime | datetime.date | datetime.time):
            return value.isoformat()
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, bytes | bytearray | memoryview):
            raw = bytes(value)
            return {"bytes_base64": base64.b64encode(raw[:_REPR_LIMIT]).decode(), "length": len(raw)}
        if isinstance(value, set | frozenset):
            return sorted(value, key=repr)
    except Exception:
        pass
    return _short_repr(value)


def to_json(value: Any) -> str:
    """JSON text for ``value``; values JSON cannot encode become their short repr."""
    try:
        return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))
    except Exception:  # circular references, broken __repr__, failing model_dump, ...
        return json.dumps(_short_repr(value), ensure_ascii=False)


def capture(value: Any, config: CaptureConfig) -> tuple[str, bool]:
    """The attribute text for ``value`` after redaction, and whether it was truncated."""
    if config.redact is not None:
        try:
            value = config.redact(value)
        except Exception as exc:  # a broken hook must not leak the unredacted value
            return json.dumps(f"<redaction failed: {type(exc).__name__}>"), False
    text = to_json(value)
    if len(text) <= config.max_value_length:
        return text, False
    return text[: config.max_value_length] + TRUNCATION_MARK, True
