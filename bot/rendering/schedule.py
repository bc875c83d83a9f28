"""`/release schedule` as a Slack message: one line per release, its clashes under it."""

from __future__ import annotations

from bot.rendering import blocks as bk
from bot.rendering.freezes import freeze_line
from bot.rendering.messages import Rendered, state_badge
from bot.schedule import SHOWN, Schedule, sweep

#: Clashes drawn under each listed release.
CLASHES_SHOWN = 5


def schedule_listing(schedule: Schedule) -> Rendered:
    """`/release schedule`: one line per release, soonest first, with its clashes under it."""
    releases, start, end, days = schedule.releases, schedule.start, schedule.end, schedule.days
    count = schedule.count
    shown = releases[:SHOWN]
    swept = sweep(releases, of={r.id for r in shown} if count > SHOWN else None, keep=CLASHES_SHOWN)
    found, pairs = swept.of, swept.pairs
    heading = f"Release schedule: the next {days} day{'s' if days != 1 else ''}"
    summary = (f"{count} release{'s' if count != 1 else ''} from {bk.slack_date(start)} to "
               f"{bk.slack_date(end)}")
    if pairs:
        summary += (f" · :warning: {pairs} overlap{'s' if pairs != 1 else ''} on shared components"
                    + (f" involving the first {SHOWN}" if count > SHOWN else ""))
    frozen = [freeze_line(f) for f in schedule.freezes[:20]]
    if len(schedule.freezes) > 20:
        frozen.append(f"…and {len(schedule.freezes) - 20} more freezes")
    freeze_blocks = ([bk.section("*Freezes* (no release starts during one)\n" + "\n".join(frozen))]
                     if frozen else [])
    if not releases:
        text = f"{heading}: nothing planned."
        return Rendered(text, [bk.header(heading), bk.section(f"Nothing is planned from {bk.slack_date(start)} "
                                                                f"to {bk.slack_date(end)}."), *freeze_blocks])
    lines: list[str] = []
    for release in shown:
        mark = ":warning: " if release.id in found else ""
        components = ", ".join(f"`{bk.escape(bk.truncate(c, 60))}`" for c in release.components[:8])
        if len(release.components) > 8:
            components += f" and {len(release.components) - 8} more"
        lines.append(
            f"{mark}*{release.ref}* {bk.escape(bk.truncate(release.title, 80))} · {state_badge(release.state)}\n"
            f"      {bk.slack_date(release.planned_start)} → {bk.slack_date(release.planned_end)}"
            + (f" · {components}" if components else "")
        )
        for clash in found.get(release.id, []):
            shared = ", ".join(f"`{bk.escape(bk.truncate(c, 60))}`" for c in clash.components[:5])
            lines.append(f"      ↳ overlaps *{clash.other.ref}* "
                         f"{bk.escape(bk.truncate(clash.other.title, 60))} on {shared}")
    if count > SHOWN:
        lines.append(f"…and {count - SHOWN} more; ask for fewer days (`/release schedule 3`) to see them.")
    blocks = [bk.header(heading), bk.context(summary), *freeze_blocks, *bk.paragraphs("\n".join(lines))]
    text = f"{heading}: " + ", ".join(r.ref for r in shown)
    return Rendered(bk.message_text(text), bk.cap(blocks))
