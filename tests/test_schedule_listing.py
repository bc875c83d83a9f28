"""`/release schedule` on a busy schedule: the soonest releases listed, the rest counted, and the
clashes of those listed the same as a full comparison finds (bot/schedule.py's sweep)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.lifecycle import State
from bot.records import ReleaseRecord
from bot.rendering.schedule import schedule_listing
from bot.schedule import SHOWN, Schedule, clashes, sweep

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def release(n: int, start_hours: float, hours: float, *components: str) -> ReleaseRecord:
    start = NOW + timedelta(hours=start_hours)
    return ReleaseRecord(n, "cab", f"Release {n}", "", State.APPROVED, "UALICE", "C0RELEASES", start,
                         start + timedelta(hours=hours), components, None, 1, NOW, NOW)


def brute_force(releases: list[ReleaseRecord]) -> dict[int, set[tuple[int, tuple[str, ...]]]]:
    """Every pair compared: what the sweep must find (components compared without case)."""
    found: dict[int, set[tuple[int, tuple[str, ...]]]] = {}
    for a in releases:
        for b in releases:
            if a.id != b.id and a.planned_start < b.planned_end and b.planned_start < a.planned_end:
                shared = tuple(c.lower() for c in a.components if c.lower() in {d.lower() for d in b.components})
                if shared:
                    found.setdefault(a.id, set()).add((b.id, shared))
    return found


def test_the_sweep_finds_what_comparing_every_pair_finds() -> None:
    releases = [release(n, (n * 7) % 40, 1 + n % 5, *(["api"] if n % 2 else []), *(["DB"] if n % 3 else ["db"]))
                for n in range(1, 60)]
    releases.sort(key=lambda r: r.planned_start)
    def lowered(found: dict[int, list]) -> dict[int, set[tuple[int, tuple[str, ...]]]]:
        return {rid: {(c.other.id, tuple(x.lower() for x in c.components)) for c in cs} for rid, cs in found.items()}

    swept = lowered(clashes(releases))
    assert swept == brute_force(releases)
    some = {r.id for r in releases[:10]}
    only = clashes(releases, of=some)
    assert all(rid in some or all(c.other.id in some for c in found) for rid, found in only.items())
    assert {rid: found for rid, found in lowered(only).items() if rid in some} \
        == {rid: found for rid, found in brute_force(releases).items() if rid in some}


def test_a_sweep_that_keeps_a_few_clashes_per_release_still_counts_every_pair() -> None:
    releases = [release(n, (n * 7) % 40, 1 + n % 5, *(["api"] if n % 2 else []), *(["DB"] if n % 3 else ["db"]))
                for n in range(1, 60)]
    every = brute_force(releases)
    kept = sweep(releases, keep=2)
    assert kept.pairs == sum(len(found) for found in every.values()) // 2
    assert set(kept.of) == set(every)
    assert all(1 <= len(found) <= 2 for found in kept.of.values())
    assert all({c.other.id for c in found} <= {other for other, _ in every[rid]} for rid, found in kept.of.items())
    some = {r.id for r in releases[:10]}
    pairs = {frozenset((a, b)) for a, found in every.items() for b, _ in found if a in some or b in some}
    assert sweep(releases, of=some, keep=1).pairs == len(pairs)


def test_a_busy_schedule_lists_the_soonest_and_counts_the_rest() -> None:
    releases = [release(n, n * 0.1, 2, "api") for n in range(1, SHOWN + 51)]
    listing = schedule_listing(Schedule(releases, NOW, NOW + timedelta(days=14), 14))
    text = " ".join(str(b) for b in listing.blocks)
    assert f"*REL-{SHOWN}*" in text and f"*REL-{SHOWN + 1}*" not in text
    assert "…and 50 more" in text
    assert listing.text.count("REL-") == SHOWN
