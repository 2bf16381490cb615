"""Alertmanager ``time_intervals``: when a route is muted (``mute_time_intervals``) or active
(``active_time_intervals``). Ranges are inclusive (``monday:friday``, ``1:5``, ``-1`` = the last
day of the month); times are ``HH:MM`` with an exclusive end, in ``location`` (default UTC)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator

_WEEKDAYS = {
    d: i for i, d in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_TIME = re.compile(r"^(\d{2}):(\d{2})$")


def _range(text: str, names: dict[str, int] | None, lo: int, hi: int, what: str) -> tuple[int, int]:
    parts = str(text).lower().split(":")
    if len(parts) > 2:
        raise ValueError(f"bad {what} range {text!r}")

    def one(p: str) -> int:
        p = p.strip()
        if names and p in names:
            return names[p]
        try:
            n = int(p)
        except ValueError:
            raise ValueError(f"bad {what} {p!r}") from None
        if not (lo <= n <= hi) or (n == 0 and lo < 0):
            raise ValueError(f"{what} {n} out of range [{lo}, {hi}]")
        return n

    a = one(parts[0])
    b = one(parts[-1])
    if (a >= 0 and b >= 0 and a > b) or (a < 0 and b < 0 and a > b):
        raise ValueError(f"{what} range {text!r} ends before it starts")
    return a, b


def _minutes(t: str, end: bool) -> int:
    m = _TIME.match(t)
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59 or (int(m.group(1)) == 24 and int(m.group(2))):
        raise ValueError(f"bad time {t!r} (HH:MM, 00:00 to 24:00)")
    v = int(m.group(1)) * 60 + int(m.group(2))
    if not end and v == 1440:
        raise ValueError("a start_time cannot be 24:00")
    return v


class TimeRange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start_time: str
    end_time: str

    def minutes(self) -> tuple[int, int]:
        return _minutes(self.start_time, False), _minutes(self.end_time, True)

    @field_validator("end_time")
    @classmethod
    def _after(cls, v: str, info: object) -> str:
        start = getattr(info, "data", {}).get("start_time")
        if start is not None and _minutes(v, True) <= _minutes(start, False):
            raise ValueError(f"end_time {v} must be after start_time {start}")
        return v


class TimeInterval(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    times: list[TimeRange] | None = None
    weekdays: list[str] | None = None
    days_of_month: list[str] | None = None
    months: list[str] | None = None
    years: list[str] | None = None
    location: str | None = None

    @field_validator("weekdays")
    @classmethod
    def _wd(cls, v: list[str] | None) -> list[str] | None:
        for r in v or []:
            _range(r, _WEEKDAYS, 0, 6, "weekday")
        return v

    @field_validator("days_of_month")
    @classmethod
    def _dom(cls, v: list[str] | None) -> list[str] | None:
        for r in v or []:
            _range(r, None, -31, 31, "day of month")
        return v

    @field_validator("months")
    @classmethod
    def _mo(cls, v: list[str] | None) -> list[str] | None:
        for r in v or []:
            _range(r, _MONTHS, 1, 12, "month")
        return v

    @field_validator("years")
    @classmethod
    def _yr(cls, v: list[str] | None) -> list[str] | None:
        for r in v or []:
            _range(r, None, 1, 9999, "year")
        return v

    @field_validator("location")
    @classmethod
    def _loc(cls, v: str | None) -> str | None:
        if v is not None and v.lower() != "local":
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown location {v!r}") from None
        return v

    def contains(self, when: dt.datetime) -> bool:
        if self.location and self.location.lower() != "local":
            when = when.astimezone(ZoneInfo(self.location))
        if self.times:
            minute = when.hour * 60 + when.minute
            if not any(a <= minute < b for a, b in (t.minutes() for t in self.times)):
                return False
        if self.weekdays and not any(
            a <= when.weekday() <= b for a, b in (_range(r, _WEEKDAYS, 0, 6, "") for r in self.weekdays)
        ):
            return False
        if self.days_of_month:
            last = calendar.monthrange(when.year, when.month)[1]
            ok = False
            for r in self.days_of_month:
                a, b = _range(r, None, -31, 31, "")
                a, b = (last + 1 + a if a < 0 else a), (last + 1 + b if b < 0 else b)
                ok = ok or a <= when.day <= b
            if not ok:
                return False
        if self.months and not any(
            a <= when.month <= b for a, b in (_range(r, _MONTHS, 1, 12, "") for r in self.months)
        ):
            return False
        return not self.years or any(
            a <= when.year <= b for a, b in (_range(r, None, 1, 9999, "") for r in self.years)
        )


class NamedTimeInterval(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    time_intervals: list[TimeInterval]

    def contains(self, when: dt.datetime) -> bool:
        return any(t.contains(when) for t in self.time_intervals)
