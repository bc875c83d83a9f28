"""Recurring blackouts of the change schedule: `freezes.yaml` in the models folder (DESIGN.md §8).

Each entry is a recurrence rule (RFC 5545 RRULE, read by python-dateutil) in a time zone, a
local start time and a duration. Occurrences are computed in local wall-clock time, then
given their zone, so "Fridays 15:00 Europe/Berlin" stays 15:00 across a change to or from
summer time (13:00 UTC in summer, 14:00 in winter); the duration is elapsed time from there.
The file is validated when it is loaded, with file and field in each problem, as the release
models are.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from dateutil.rrule import rrule, rrulestr
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.catalog import CatalogError, Duration, Problem

FILE = "freezes.yaml"
#: Rules are anchored here (their first possible occurrence), so `INTERVAL=2` is stable.
ANCHOR = date(2024, 1, 1)
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class Blackout(BaseModel):
    """One recurring blackout, as written in `freezes.yaml`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    rrule: str
    start: str
    duration: Duration
    timezone: str = "UTC"
    models: list[str] | None = None
    reason: str = ""

    @field_validator("rrule")
    @classmethod
    def _rule(cls, value: str) -> str:
        if "DTSTART" in value.upper():
            raise ValueError("leave DTSTART out: write the local time in `start`")
        try:
            rule = rrulestr(value.removeprefix("RRULE:"), dtstart=datetime.combine(ANCHOR, time()))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{value!r} is not a recurrence rule (RFC 5545 RRULE, e.g. "
                             f"FREQ=WEEKLY;BYDAY=FR): {exc}") from None
        if not isinstance(rule, rrule):
            raise ValueError("write one RRULE, not a set of rules")
        return value.removeprefix("RRULE:")

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        if not _HHMM.match(str(value).strip()):
            raise ValueError(f"{value!r} is not a time of day: write HH:MM in quotes, e.g. \"15:00\"")
        return str(value).strip()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name; write one like Europe/Berlin or UTC") from None
        return value

    @field_validator("duration")
    @classmethod
    def _not_too_long(cls, value: timedelta) -> timedelta:
        if value > timedelta(days=31):
            raise ValueError("a blackout lasts at most 31d; split it or use a one-off freeze")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def applies_to(self, model_key: str) -> bool:
        return self.models is None or model_key in self.models

    def occurrences(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The (start, end) of every occurrence in force at some moment of [start, end], UTC."""
        zone = self.zone
        hours, minutes = (int(part) for part in self.start.split(":"))
        rule = rrulestr(self.rrule, dtstart=datetime.combine(ANCHOR, time(hours, minutes)))
        # Local wall-clock bounds, a day wider than needed: the offsets differ by at most that.
        since = (start - self.duration).astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
        until = end.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
        found: list[tuple[datetime, datetime]] = []
        for local in rule.between(since, until, inc=True):
            begins = local.replace(tzinfo=zone).astimezone(UTC)
            ends = begins + self.duration
            if begins <= end and ends > start:
                found.append((begins, ends))
        return found


def load_blackouts(folder: Path, model_keys: Collection[str]) -> list[Blackout]:
    """The blackouts of `folder/freezes.yaml` (none if there is no such file); raises
    `CatalogError` with every problem, file and field, as the release models do."""
    path = folder / FILE
    if not path.is_file():
        return []
    problems: list[Problem] = []
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError([Problem(FILE, "", f"cannot be read: {exc.strerror}")]) from None
    except yaml.YAMLError as exc:
        raise CatalogError([Problem(FILE, "", f"is not valid YAML: {exc}")]) from None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CatalogError([Problem(FILE, "", "must be a list of blackouts: - {name, rrule, start, duration, "
                                              "timezone, models}")])
    blackouts: list[Blackout] = []
    names: set[str] = set()
    for index, entry in enumerate(raw):
        try:
            blackout = Blackout.model_validate(entry)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in (index, *err["loc"]))
                problems.append(Problem(FILE, where, str(err["msg"]).removeprefix("Value error, ")))
            continue
        for key in blackout.models or []:
            if key not in model_keys:
                problems.append(Problem(FILE, f"{index}.models", f"there is no release model {key!r}; "
                                                                 f"there are: {', '.join(sorted(model_keys))}"))
        if blackout.name in names:
            problems.append(Problem(FILE, f"{index}.name", f"{blackout.name!r} names another blackout too"))
        names.add(blackout.name)
        blackouts.append(blackout)
    if problems:
        raise CatalogError(problems)
    return blackouts
