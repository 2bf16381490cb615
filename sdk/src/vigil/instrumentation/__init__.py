"""Explicit, reversible integrations with LLM client libraries.

Nothing here imports a provider library until its integration is switched on, and switching
on one that is not installed fails with a clear error rather than an ImportError deep inside.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading

from vigil.instrumentation.patching import Patch

# integration name → (the library it patches, the module that knows how)
_INTEGRATIONS = {
    "openai": ("openai", "vigil.instrumentation.openai"),
    "anthropic": ("anthropic", "vigil.instrumentation.anthropic"),
}

_lock = threading.Lock()
_active: dict[str, list[Patch]] = {}


class InstrumentationError(RuntimeError):
    """An integration cannot be switched on (unknown name, or its library is missing)."""


def instrument(name: str, capture_content: bool | None = None) -> None:
    """Trace every call of the named library from now on; a no-op if already on."""
    try:
        library, module_name = _INTEGRATIONS[name]
    except KeyError:
        raise InstrumentationError(
            f"unknown integration {name!r}: choose from {sorted(_INTEGRATIONS)}"
        ) from None
    if importlib.util.find_spec(library) is None:
        raise InstrumentationError(f"cannot instrument {name}: the {library!r} package is not installed")
    with _lock:
        if name in _active:
            return
        _active[name] = importlib.import_module(module_name).instrument(capture_content)


def uninstrument(name: str) -> None:
    """Put the library's original methods back; a no-op if the integration is off."""
    with _lock:
        patches = _active.pop(name, [])
    for patch in reversed(patches):
        patch.revert()


def uninstrument_all() -> None:
    for name in list(_active):
        uninstrument(name)


def instrument_openai(capture_content: bool | None = None) -> None:
    """Trace ``chat.completions.create`` of every ``openai`` client (sync, async, streaming)."""
    instrument("openai", capture_content)


def uninstrument_openai() -> None:
    uninstrument("openai")


def instrument_anthropic(capture_content: bool | None = None) -> None:
    """Trace ``messages.create`` of every ``anthropic`` client (sync, async, streaming)."""
    instrument("anthropic", capture_content)


def uninstrument_anthropic() -> None:
    uninstrument("anthropic")
