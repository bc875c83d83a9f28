"""The release schedule: upcoming releases in their windows, and the clashes between them.

Two releases clash when their planned windows overlap and they touch a component in common
(compared without case or surrounding spaces): the change enablement practice wants to see
those before approving either. Pure: `bot.rendering.schedule` draws it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.records import ReleaseRecord

if TYPE_CHECKING:
    from bot.freezes import Freeze

#: Releases that are still to happen or happening: what the schedule shows.
SCHEDULED_STATES = ("planned", "awaiting_approval", "approved", "ready", "executing")

#: Releases listed one per line (a message holds a few hundred lines at most); the rest are counted.
SHOWN = 100

#: Releases read beside the listed ones to find their clashes: those that start before the last
#: listed one ends. A window busier than this is checked against the first of them only.
CLASH_CANDIDATES = 5_000


@dataclass(frozen=True)
class Clash:
    other: ReleaseRecord
    components: tuple[str, ...]


def _normal(component: str) -> str:
    return component.strip().lower()


@dataclass(frozen=True)
class Clashes:
    """The clashes a sweep found: up to `keep` per release (all without a `keep`), and how
    many pairs clash in all."""

    of: dict[int, list[Clash]]
    pairs: int


def clashes(releases: Sequence[ReleaseRecord], of: Collection[int] | None = None) -> dict[int, list[Clash]]:
    """For each release id, the others whose window overlaps it and that share components;
    given `of` (release ids), only the clashes those releases are part of."""
    return sweep(releases, of).of


def sweep(releases: Sequence[ReleaseRecord], of: Collection[int] | None = None, keep: int | None = None) -> Clashes:
    """The clashes among `releases` (given `of`, only those these releases are part of),
    keeping at most `keep` per release, but counting every clashing pair.

    A sweep over the windows in order of start: a release is only compared with those that
    start before it ends, and the sweep stops after the last of `of`, so a busy schedule costs
    about the overlaps it shows, not the square of its releases. Two windows that overlap
    without a component in common cost one set comparison; the schedule's readers see five
    clashes per release at most, so a busy week (a hundred releases all overlapping, some
    ten thousand pairs) does not build a list of every clash for every release."""
    found: dict[int, list[Clash]] = {}
    pairs = 0
    ordered = sorted(releases, key=lambda r: r.planned_start)  # stable: equal starts keep their order
    wanted = None if of is None else set(of)
    last = len(ordered) if wanted is None else 1 + max(
        (k for k, r in enumerate(ordered) if r.id in wanted), default=-1)
    normal = [{_normal(c): c for c in r.components} for r in ordered]
    keys = [frozenset(n) for n in normal]

    for i in range(last):
        one, mine, my_keys = ordered[i], normal[i], keys[i]
        if not my_keys:
            continue
        ends = one.planned_end
        for j in range(i + 1, len(ordered)):
            other = ordered[j]
            if other.planned_start >= ends:
                break  # every later one starts later still
            if my_keys.isdisjoint(keys[j]) or not (one.planned_start < other.planned_end):
                continue
            if wanted is not None and one.id not in wanted and other.id not in wanted:
                continue
            pairs += 1
            mine_found, theirs = found.setdefault(one.id, []), found.setdefault(other.id, [])
            if keep is not None and len(mine_found) >= keep and len(theirs) >= keep:
                continue  # counted; neither side shows more
            shared = tuple(mine[key] for key in normal[j] if key in mine)
            if keep is None or len(mine_found) < keep:
                mine_found.append(Clash(other, shared))
            if keep is None or len(theirs) < keep:
                theirs.append(Clash(one, shared))
    return Clashes(found, pairs)


@dataclass(frozen=True)
class Schedule:
    """`/release schedule [DAYS]`: the releases whose window meets [start, end), soonest first.

    `releases` holds the soonest `SHOWN` and, after them, the others that could clash with
    those; `total` counts every release of the period, which may be many more."""

    releases: list[ReleaseRecord]
    start: datetime
    end: datetime
    days: int
    #: The freezes in force at some moment of the period, beside the releases (DESIGN.md §8).
    freezes: Sequence[Freeze] = ()
    #: How many releases meet the period in all; None when `releases` are all of them.
    total: int | None = None

    @property
    def count(self) -> int:
        return len(self.releases) if self.total is None else self.total
