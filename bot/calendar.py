"""The change schedule as an iCalendar feed (RFC 5545, DESIGN.md §8), built with the
`icalendar` library: one VEVENT per release window (SUMMARY starting `REL-n`) and per freeze
occurrence (`FRZ-n`, or the recurring blackout's name). UIDs are stable (`rel-7@releasebot`,
`frz-3@releasebot`, `blackout-NAME-START@releasebot`) and SEQUENCE grows with the release's
version, so calendar apps update an event rather than add another. Slack-free.

Who may read it is a token's business: `CalendarAccess` answers which release models a token
sees (None: all). The composition root gives `bot.tokens.TokenCalendarAccess`: the pipeline
API's tokens (`releasebot token create`, scoped to their models), then `SettingToken`
(`RELEASEBOT_CALENDAR_TOKEN`, unscoped) while that is set.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import Calendar, Event

from bot.catalog import Catalog
from bot.clock import Clock
from bot.freezes import Freeze, FreezeService
from bot.records import ReleaseRecord
from storage.uow import UnitOfWorkFactory

#: What the feed covers around now: enough history to look back, a quarter ahead.
PAST = timedelta(days=30)
AHEAD = timedelta(days=120)
#: Releases shown: those still to happen or happening, and those executed (their window stays).
SHOWN_STATES = ("planned", "awaiting_approval", "approved", "ready", "executing", "released", "failed",
                "rolled_back", "closed")


@dataclass(frozen=True)
class Access:
    """What a token may see: `models` None is every release model."""

    name: str
    models: frozenset[str] | None = None

    def sees(self, model_key: str) -> bool:
        return self.models is None or model_key in self.models


#: A token → what it may see, or None when it is missing, unknown or revoked.
CalendarAccess = Callable[[str], Awaitable[Access | None]]


class SettingToken:
    """The minimal token check: the one `RELEASEBOT_CALENDAR_TOKEN`, compared in constant time;
    asked after the pipeline tokens, so a feed set up with it keeps working."""

    def __init__(self, token: str):
        self.token = token

    async def __call__(self, presented: str) -> Access | None:
        if self.token and presented and hmac.compare_digest(self.token.encode(), presented.encode()):
            return Access("calendar")
        return None


class CalendarService:
    def __init__(self, uow: UnitOfWorkFactory, catalog: Catalog, clock: Clock, freezes: FreezeService):
        self.uow = uow
        self.catalog = catalog
        self.clock = clock
        self.freezes = freezes

    async def feed(self, access: Access) -> bytes:
        now = self.clock()
        start, end = now - PAST, now + AHEAD
        async with self.uow(read_only=True) as uow:
            rows = await uow.releases.in_window(start, end, SHOWN_STATES, limit=2000)
            freezes = await self.freezes.overlapping_within(uow, None, start, end)
        releases = [ReleaseRecord.from_row(r) for r in rows if access.sees(r.model_key)]
        # A scoped token sees the freezes that apply to its models (global ones included).
        shown = [f for f in freezes if access.models is None or f.models is None
                 or any(m in access.models for m in f.models)]
        return calendar(releases, shown, now, self.catalog)


def calendar(releases: list[ReleaseRecord], freezes: list[Freeze], now: datetime, catalog: Catalog) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//releasebot//change schedule//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Change schedule")
    for release in releases:
        event = Event()
        event.add("uid", f"rel-{release.id}@releasebot")
        event.add("summary", f"{release.ref} {release.title} ({release.state.label})")
        event.add("dtstart", release.planned_start)
        event.add("dtend", release.planned_end)
        event.add("dtstamp", release.updated_at)
        event.add("last-modified", release.updated_at)
        event.add("sequence", release.version)
        model = catalog.get(release.model_key)
        lines = [f"Release model: {model.name if model else release.model_key}", f"State: {release.state.label}"]
        if release.components:
            lines.append("Components: " + ", ".join(release.components))
        if release.change_ref:
            lines.append(f"Change record: {release.change_ref}")
        if release.description:
            lines += ["", release.description]
        event.add("description", "\n".join(lines))
        event.add("categories", ["release", release.model_key])
        if release.state.value in ("cancelled", "rejected"):
            event.add("status", "CANCELLED")
        cal.add_component(event)
    for freeze in freezes:
        event = Event()
        event.add("uid", freeze.uid)
        summary = f"{freeze.ref} freeze: {freeze.reason}" if not freeze.recurring else f"Blackout: {freeze.ref}"
        event.add("summary", summary)
        event.add("dtstart", freeze.start)
        event.add("dtend", freeze.end)
        event.add("dtstamp", now)
        scope = "every release model" if freeze.models is None else ", ".join(freeze.models)
        event.add("description", f"No release starts during a freeze. Applies to: {scope}."
                                 + (f"\nReason: {freeze.reason}" if freeze.recurring else ""))
        event.add("categories", ["freeze"])
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    return cal.to_ical()
