"""Reversible monkey-patching of client library methods."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Patch:
    owner: type
    name: str
    original: Any

    def revert(self) -> None:
        setattr(self.owner, self.name, self.original)


def patch_method(owner: type, name: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Patch:
    """Replace ``owner.name`` with ``wrap(original)``; the returned Patch puts the original back."""
    original = owner.__dict__[name]
    setattr(owner, name, wrap(original))
    return Patch(owner, name, original)
