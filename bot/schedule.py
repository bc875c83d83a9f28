"""The release schedule: upcoming releases in their windows, and the clashes between them.

Two releases clash when their planned windows overlap and they touch a component in common
(compared without case or surrounding spaces): the change enablement practice wants to see
those before approving either. Pure: `bot.rendering.schedule` draws it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.records import ReleaseRecord

if TYPE_CHECKING:
    from bot.freezes import Freeze

#: Releases that are still to happen or happening: what the schedule shows.
SCHEDULED_STATES = ("planned", "awaiting_approval", "approved", "ready", "executing")


@dataclass(frozen=True)
class Clash:
    other: ReleaseRecord
    components: tuple[str, ...]


def _normal(component: str) -> str:
    return component.strip().lower()


def clashes(releases: Sequence[ReleaseRecord]) -> dict[int, list[Clash]]:
    """For each release id, the others whose window overlaps it and that share components."""
    found: dict[int, list[Clash]] = {}
    for i, one in enumerate(releases):
        mine = {_normal(c): c for c in one.components}
        for other in releases[i + 1:]:
            if not (one.planned_start < other.planned_end and other.planned_start < one.planned_end):
                continue
            shared = tuple(mine[key] for key in dict.fromkeys(_normal(c) for c in other.components) if key in mine)
            if shared:
                found.setdefault(one.id, []).append(Clash(other, shared))
                found.setdefault(other.id, []).append(Clash(one, shared))
    return found


@dataclass(frozen=True)
class Schedule:
    """`/release schedule [DAYS]`: the releases whose window meets [start, end), soonest first."""

    releases: list[ReleaseRecord]
    start: datetime
    end: datetime
    days: int
    #: The freezes in force at some moment of the period, beside the releases (DESIGN.md §8).
    freezes: Sequence[Freeze] = ()
