"""The release schedule: upcoming releases in their windows, and the clashes between them.

Two releases clash when their planned windows overlap and they touch a component in common
(compared without case or surrounding spaces): the change enablement practice wants to see
those before approving either. Pure, apart from rendering to Block Kit data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.records import ReleaseRecord
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered, state_badge

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


def schedule_listing(releases: Sequence[ReleaseRecord], start: datetime, end: datetime, days: int) -> Rendered:
    """`/release schedule`: one line per release, soonest first, with its clashes under it."""
    found = clashes(releases)
    pairs = sum(len(c) for c in found.values()) // 2
    heading = f"Release schedule: the next {days} day{'s' if days != 1 else ''}"
    summary = (f"{len(releases)} release{'s' if len(releases) != 1 else ''} from {bk.slack_date(start)} to "
               f"{bk.slack_date(end)}")
    if pairs:
        summary += f" · :warning: {pairs} overlap{'s' if pairs != 1 else ''} on shared components"
    if not releases:
        text = f"{heading}: nothing planned."
        return Rendered(text, [bk.header(heading), bk.section(f"Nothing is planned from {bk.slack_date(start)} "
                                                                f"to {bk.slack_date(end)}.")])
    lines: list[str] = []
    for release in releases:
        mark = ":warning: " if release.id in found else ""
        components = ", ".join(f"`{bk.escape(bk.truncate(c, 60))}`" for c in release.components[:8])
        if len(release.components) > 8:
            components += f" and {len(release.components) - 8} more"
        lines.append(
            f"{mark}*{release.ref}* {bk.escape(bk.truncate(release.title, 80))} · {state_badge(release.state)}\n"
            f"      {bk.slack_date(release.planned_start)} → {bk.slack_date(release.planned_end)}"
            + (f" · {components}" if components else "")
        )
        for clash in found.get(release.id, [])[:5]:
            shared = ", ".join(f"`{bk.escape(bk.truncate(c, 60))}`" for c in clash.components[:5])
            lines.append(f"      ↳ overlaps *{clash.other.ref}* "
                         f"{bk.escape(bk.truncate(clash.other.title, 60))} on {shared}")
    blocks = [bk.header(heading), bk.context(summary), *bk.paragraphs("\n".join(lines))]
    text = f"{heading}: " + ", ".join(r.ref for r in releases)
    return Rendered(bk.message_text(text), bk.cap(blocks))
