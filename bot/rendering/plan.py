"""The release plan as people read it (DESIGN.md §5a): risk and impact, rollback plan and
release notes on the card, the approval request and the record, each cut to what the surface
holds with *Read the plan* for the rest; the modal that shows all of it; what approvers are
told when a plan changes after their approval.

Release notes and rollback plans are written in Markdown; Slack reads mrkdwn. `mrkdwn`
escapes what was typed first (`<!channel>` pings nobody) and only then turns the Markdown
the bot recognises into mrkdwn: `**bold**`, `# headings`, `- bullets`, `[text](https://…)`
links (http and https only), and notes that are only a link become that link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot import actions as ids
from bot.records import ReleaseRecord
from bot.release_plan import RELEASE_NOTES, ROLLBACK_PLAN, ReleasePlan, Risk, is_link
from bot.rendering import blocks as bk

RISK_EMOJI = {Risk.LOW: ":large_green_circle:", Risk.MEDIUM: ":large_yellow_circle:", Risk.HIGH: ":red_circle:"}
NOT_ASSESSED = "_not assessed_"
NONE_GIVEN = "_none given_"

_LINK = re.compile(r"\[([^\]\n]{1,300})\]\((https?://[^\s()<>|]{1,2000})\)", re.IGNORECASE)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.MULTILINE)


def mrkdwn(text: str) -> str:
    """Markdown someone typed, as mrkdwn that can neither ping nor fake a link."""
    text = text.strip()
    if is_link(text):
        return f"<{bk.escape(text)}>"
    out = bk.escape(text)
    out = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1).replace('|', '/')}>", out)
    out = _HEADING.sub(r"*\1*", out)
    out = _BULLET.sub(r"\1• ", out)
    out = _BOLD.sub(r"*\1*", out)
    return _STRIKE.sub(r"~\1~", out)


def excerpt(text: str, limit: int) -> tuple[str, bool]:
    """The mrkdwn of `text` in at most `limit` characters, and whether it was cut.

    Cut in the typed text, before escaping, so that no entity or link the bot made is
    broken; escaping can lengthen text, so it shrinks until the mrkdwn fits.
    """
    shown = mrkdwn(text)
    if len(shown) <= limit:
        return shown, False
    raw = text.strip()[:limit]
    while True:
        shown = mrkdwn(raw).rstrip() + bk.ELLIPSIS
        if len(shown) <= limit or not raw:
            return shown[:limit], True
        raw = raw[: max(0, len(raw) * limit // len(shown) - 1)]


@dataclass(frozen=True)
class Limits:
    """How much of each text a surface shows before *Read the plan*."""

    impact: int
    rollback_plan: int
    release_notes: int


CARD = Limits(impact=300, rollback_plan=700, release_notes=500)
REQUEST = Limits(impact=600, rollback_plan=1500, release_notes=1000)
RECORD = Limits(impact=1000, rollback_plan=2900, release_notes=2900)


def risk_line(plan: ReleasePlan, impact_limit: int = 300) -> tuple[str, bool]:
    """`:red_circle: *High* · Checkout down for 10 minutes`, and whether the impact was cut."""
    impact, cut = excerpt(plan.impact, impact_limit) if plan.impact else ("", False)
    if plan.risk is None:
        return (f"{NOT_ASSESSED} · impact: {impact}" if impact else NOT_ASSESSED), cut
    level = f"{RISK_EMOJI[plan.risk]} *{plan.risk.label}*"
    return (f"{level} · {impact}" if impact else f"{level} · _impact not described_"), cut


@dataclass(frozen=True)
class PlanView:
    """The plan for one surface: the risk field, the sections, and whether anything was cut."""

    risk_field: str
    sections: list[bk.Block]
    truncated: bool


def plan_view(plan: ReleasePlan, limits: Limits, *, always_notes: bool = False) -> PlanView:
    """Risk (a field), rollback plan (always: approvers should see that there is none) and
    release notes (when given, or always where approvers decide)."""
    risk, cut = risk_line(plan, limits.impact)
    sections: list[bk.Block] = []
    truncated = cut
    if plan.rollback_plan:
        text, cut = excerpt(plan.rollback_plan, limits.rollback_plan)
        truncated |= cut
        sections.append(bk.section(f"*Rollback plan*\n{text}", block_id=f"plan:{ROLLBACK_PLAN}"))
    else:
        sections.append(bk.section(f"*Rollback plan*: {NONE_GIVEN}", block_id=f"plan:{ROLLBACK_PLAN}"))
    if plan.release_notes:
        text, cut = excerpt(plan.release_notes, limits.release_notes)
        truncated |= cut
        sections.append(bk.section(f"*Release notes*\n{text}", block_id=f"plan:{RELEASE_NOTES}"))
    elif always_notes:
        sections.append(bk.section(f"*Release notes*: {NONE_GIVEN}", block_id=f"plan:{RELEASE_NOTES}"))
    return PlanView(f"*Risk*\n{risk}", sections, truncated)


def read_button(release_id: int) -> bk.Block:
    return bk.button("Read the plan", ids.PLAN_READ, str(release_id))


def read_plan_modal(release: ReleaseRecord, note: str = "") -> bk.Block:
    """All of the plan, however long: a modal holds 100 blocks of 3000 characters."""
    plan = release.plan
    blocks: list[bk.Block] = [
        bk.section(f"*{bk.escape(bk.truncate(release.title, 200))}* ({release.ref}) is {release.state.label}."),
    ]
    if note:
        blocks.append(bk.context(note))
    risk = f"{RISK_EMOJI[plan.risk]} *{plan.risk.label}*" if plan.risk else NOT_ASSESSED
    blocks.append(bk.section(f"*Risk*: {risk}"))
    if plan.impact:
        blocks += _titled("Impact", plan.impact)
    blocks += _titled("Rollback plan", plan.rollback_plan) if plan.rollback_plan else [
        bk.section(f"*Rollback plan*: {NONE_GIVEN}")]
    blocks += _titled("Release notes", plan.release_notes) if plan.release_notes else [
        bk.section(f"*Release notes*: {NONE_GIVEN}")]
    return {
        "type": "modal", "callback_id": "release_plan_read_view",
        "title": bk.plain(f"Plan of {release.ref}", bk.MODAL_TITLE), "close": bk.plain("Close", 24),
        "blocks": bk.cap(blocks, bk.SURFACE_BLOCKS, "…and {n} more parts: the rest is too long to show here"),
    }


def _titled(title: str, text: str) -> list[bk.Block]:
    parts = bk.paragraphs(mrkdwn(text), bk.SECTION_TEXT)
    return [bk.divider(), bk.section(f"*{title}*"), *parts]


def rollback_question(release: ReleaseRecord, options: list[tuple[str, str]]) -> tuple[str, list[bk.Block]]:
    """After `/release rollback REL-n REASON…`: was the rollback plan followed? One click."""
    text = f"{release.ref} is rolled back: the reason is recorded. Did you follow its rollback plan?"
    excerpt_text, _ = excerpt(release.plan.rollback_plan, 1200)
    buttons = [bk.button(label, f"{ids.ROLLBACK_PLAN_NOTE}:{value}", str(release.id)) for value, label in options]
    return text, [bk.section(text), bk.context(f"*Rollback plan*: {excerpt_text}"),
                  bk.actions(*buttons, block_id=f"rollback-plan:{release.id}")]
