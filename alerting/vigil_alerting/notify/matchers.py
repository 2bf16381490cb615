"""Label matchers as Alertmanager writes them: ``name="value"``, ``!=``, ``=~``, ``!~``.

Regexes are anchored (``^(?:re)$``), as in Alertmanager, so ``severity=~"crit"`` does not match
``critical``. The older ``match``/``match_re`` maps become equality/regex matchers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Op = Literal["=", "!=", "=~", "!~"]
OPS: tuple[Op, ...] = ("=", "!=", "=~", "!~")

_MATCHER = re.compile(
    r"""^\s*(?P<name>[^\s=!~"{},]+|"(?:[^"\\]|\\.)*")\s*(?P<op>=~|!~|!=|=)\s*"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"|[^,}]*?)\s*$"""
)


class MatcherError(ValueError):
    """A matcher that cannot be parsed or whose regex does not compile."""


def _unquote(s: str) -> str:
    if len(s) >= 2 and s[0] == s[-1] == '"':
        return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), s[1:-1])
    return s


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    _re: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise MatcherError(f"unknown operator {self.op!r} (use =, !=, =~ or !~)")
        if self.op in ("=~", "!~"):
            try:
                object.__setattr__(self, "_re", re.compile(f"^(?:{self.value})$"))
            except re.error as exc:
                raise MatcherError(f"bad regex {self.value!r}: {exc}") from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.name, "")
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        assert self._re is not None
        hit = self._re.fullmatch(v) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op}{_quote(self.value)}"


def _quote(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def parse_matcher(text: str) -> Matcher:
    m = _MATCHER.match(text)
    if not m:
        raise MatcherError(f'cannot parse matcher {text!r} (expected name="value", !=, =~ or !~)')
    return Matcher(_unquote(m.group("name")), m.group("op"), _unquote(m.group("value")))  # type: ignore[arg-type]


def _split(body: str) -> list[str]:
    """Split on commas outside double quotes."""
    parts, cur, quoted, escaped = [], [], False, False
    for ch in body:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            cur.append(ch)
            escaped = True
        elif ch == '"':
            cur.append(ch)
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if quoted:
        raise MatcherError(f"unclosed quote in {body!r}")
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def parse_matchers(items: Iterable[str]) -> tuple[Matcher, ...]:
    """A ``matchers:`` list; each item may itself be ``{a="b", c=~"d"}`` or ``a="b", c="d"``."""
    out: list[Matcher] = []
    for item in items:
        if not isinstance(item, str):
            raise MatcherError(f"a matcher must be a string, got {item!r}")
        body = item.strip()
        if body.startswith("{"):
            if not body.endswith("}"):
                raise MatcherError(f"unclosed brace in {item!r}")
            body = body[1:-1]
        out.extend(parse_matcher(p) for p in _split(body))
    return tuple(out)


def from_match(match: Mapping[str, str], match_re: Mapping[str, str]) -> tuple[Matcher, ...]:
    return tuple(
        [Matcher(str(k), "=", str(v)) for k, v in sorted(match.items())]
        + [Matcher(str(k), "=~", str(v)) for k, v in sorted(match_re.items())]
    )


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
