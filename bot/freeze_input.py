"""`/release freeze START END REASON… [models=KEY,KEY]` read into a freeze request. Pure.

START is `now`, `YYYY-MM-DD` (the day's start) or `YYYY-MM-DDTHH:MM`; END the same (a date
alone means the end of that day, so `2026-12-24 2026-12-26` freezes three whole days) or a
duration from START (`2h`, `3d`). Times are read in the configured time zone
(`RELEASEBOT_TIMEZONE`). Bad input is answered field by field with sentences a person can
act on; nothing is recorded for it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.catalog import parse_duration

#: A freeze longer than this is a mistake (or a policy for freezes.yaml), not a freeze.
LONGEST = timedelta(days=90)
USAGE = "/release freeze START END REASON… [models=KEY,KEY]"


@dataclass(frozen=True)
class FreezeRequest:
    start: datetime   # aware, UTC
    end: datetime     # aware, UTC
    reason: str
    models: tuple[str, ...] | None   # None: every release model


def _moment(word: str, zone: ZoneInfo, now: datetime, end_of_day: bool) -> datetime | None:
    if word.lower() == "now":
        return now
    for layout, is_date in (("%Y-%m-%d", True), ("%Y-%m-%dT%H:%M", False), ("%Y-%m-%d %H:%M", False)):
        try:
            local = datetime.strptime(word, layout)
        except ValueError:
            continue
        if is_date and end_of_day:
            local += timedelta(days=1)
        return local.replace(tzinfo=zone).astimezone(UTC)
    return None


def shown(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z").strip()


def parse_freeze(words: Sequence[str], now: datetime, zone: ZoneInfo,
                 model_keys: Collection[str]) -> FreezeRequest | dict[str, str]:
    """The request, or the problems by field (`start`, `end`, `reason`, `models`)."""
    errors: dict[str, str] = {}
    models: tuple[str, ...] | None = None
    rest: list[str] = []
    for word in words:
        if word.lower().startswith("models="):
            keys = tuple(dict.fromkeys(k.strip().lower() for k in word.split("=", 1)[1].split(",") if k.strip()))
            unknown = [k for k in keys if k not in model_keys]
            if not keys:
                errors["models"] = "Name the release models after `models=`, e.g. `models=standard,hotfix`."
            elif unknown:
                errors["models"] = (f"There is no release model {', '.join(unknown)}; "
                                    f"the release models are: {', '.join(sorted(model_keys))}.")
            models = keys
        else:
            rest.append(word)
    if len(rest) < 2:
        return {"start": f"Say when the freeze starts and ends, and why: `{USAGE}`, "
                         "e.g. `/release freeze now 2h Incident INC-42 under investigation`."}
    start = _moment(rest[0], zone, now, end_of_day=False)
    if start is None:
        errors["start"] = (f"“{rest[0]}” is not a start: write `now`, a date (2026-12-24) or a date and time "
                           "(2026-12-24T18:00).")
    end: datetime | None = None
    if start is not None:
        end = _moment(rest[1], zone, now, end_of_day=True)
        if end is None:
            try:
                end = start + parse_duration(rest[1])
            except ValueError:
                errors["end"] = (f"“{rest[1]}” is not an end: write a date, a date and time, or a duration from "
                                 "the start (2h, 3d).")
    reason = " ".join(rest[2:]).strip()
    if not reason:
        errors["reason"] = "Say why the schedule is frozen: the reason is shown to everyone whose start it stops."
    if start is not None and end is not None:
        if end <= start:
            errors["end"] = (f"The freeze must end after it starts: it would start {shown(start, zone)} and end "
                             f"{shown(end, zone)}.")
        elif end - start > LONGEST:
            errors["end"] = (f"A freeze lasts at most {LONGEST.days} days; this one would last "
                             f"{(end - start).days} days. Freeze a shorter time, or write a recurring blackout "
                             "in freezes.yaml.")
        elif end <= now:
            errors["end"] = f"That freeze would have ended already ({shown(end, zone)}); choose an end to come."
    if errors or start is None or end is None:
        return errors
    return FreezeRequest(start, end, reason[:1000], models)
