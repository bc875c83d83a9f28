"""Freezes and clashes as Slack shows them: `/release freezes`, a new or ended freeze, the
warnings of a window that overlaps a freeze or another release."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.freezes import Freeze
from bot.records import ReleaseRecord
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered

if TYPE_CHECKING:
    from bot.clashes import WindowClashes


def scope(freeze: Freeze) -> str:
    return "every release model" if freeze.models is None else ", ".join(f"`{m}`" for m in freeze.models)


def freeze_line(freeze: Freeze) -> str:
    what = f"*{bk.escape(freeze.ref)}* (recurring)" if freeze.recurring else f"*{freeze.ref}*"
    reason = f" {bk.escape(bk.truncate(freeze.reason, 200))}" if freeze.reason != freeze.ref else ""
    return (f":ice_cube: {what}{reason} · {bk.slack_date(freeze.start)} → {bk.slack_date(freeze.end)} · "
            f"{scope(freeze)}")


def freezes_listing(freezes: Sequence[Freeze]) -> Rendered:
    if not freezes:
        text = "No freeze is in force or coming: releases may start when they are ready."
        return Rendered(text, [bk.section(text)])
    heading = "Freezes of the change schedule: in force and coming"
    lines = [freeze_line(f) for f in freezes[:40]]
    if len(freezes) > 40:
        lines.append(f"…and {len(freezes) - 40} more")
    blocks = [bk.header(heading), *bk.paragraphs("\n".join(lines)),
              bk.context("Execution stops during a freeze; planning does not. `/release unfreeze FRZ-n` ends one.")]
    return Rendered(bk.message_text(f"{heading}: " + ", ".join(f.ref for f in freezes[:20])), bk.cap(blocks))


def frozen_message(freeze: Freeze) -> str:
    return f"{freeze_line(freeze)}\nNo release of {scope(freeze)} starts while it is in force."


def unfrozen_message(freeze: Freeze) -> str:
    return f"*{freeze.ref}* has ended ({bk.escape(bk.truncate(freeze.reason, 200))}): releases may start again."


def clash_lines(found: WindowClashes, limit: int = 8) -> list[str]:
    lines = [f":ice_cube: overlaps the freeze *{bk.escape(f.ref)}* {bk.escape(bk.truncate(f.reason, 120))} "
             f"({bk.slack_date(f.start)} → {bk.slack_date(f.end)}): it cannot start then"
             for f in found.freezes[:limit]]
    for clash in found.releases[:limit]:
        shared = ", ".join(f"`{bk.escape(bk.truncate(c, 60))}`" for c in clash.components[:5])
        lines.append(f":warning: overlaps *{clash.other.ref}* {bk.escape(bk.truncate(clash.other.title, 60))} "
                     f"({bk.slack_date(clash.other.planned_start)} → {bk.slack_date(clash.other.planned_end)}) "
                     f"on {shared}")
    return lines


def clash_notice(release: ReleaseRecord, found: WindowClashes, moved: bool = False) -> Rendered:
    """To the owner, when the release is planned or its window moves into a clash."""
    what = "new window" if moved else "planned window"
    text = f"{release.ref} {bk.escape(release.title)}: its {what} clashes with the change schedule."
    lines = clash_lines(found)
    blocks = [bk.section(f":warning: *{release.ref}* {bk.escape(bk.truncate(release.title, 150))}: its {what} "
                         f"({bk.slack_date(release.planned_start)} → {bk.slack_date(release.planned_end)}) "
                         "clashes with the change schedule."),
              *bk.paragraphs("\n".join(lines)),
              bk.context("Approvers see this on the approval request. Move the window with *Change window* "
                         "on the release card if you can.")]
    return Rendered(bk.message_text(text), bk.cap(blocks))
