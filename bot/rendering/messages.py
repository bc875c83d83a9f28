"""What people read: the release card, the record, lists and help, as text plus Block Kit.

Everything a person typed goes through `escape` here, once, at the edge where it becomes
mrkdwn. Dates go out as Slack date tokens so each reader sees their own time zone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import actions as ids
from bot.catalog import Catalog, ReleaseModel
from bot.lifecycle import BEFORE_EXECUTION, EventKind, State
from bot.records import EventRecord, IncidentRecord, ReleaseDetails, ReleaseRecord, VerificationRecord
from bot.release_plan import PlanFollowed, describe_changes
from bot.rendering import blocks as bk
from bot.rendering import plan
from bot.rendering.verification import outcome_lines, progress_lines


@dataclass(frozen=True)
class Rendered:
    text: str
    blocks: list[bk.Block]


STATE_EMOJI = {
    State.PLANNED: ":memo:",
    State.AWAITING_APPROVAL: ":hourglass_flowing_sand:",
    State.APPROVED: ":white_check_mark:",
    State.REJECTED: ":no_entry:",
    State.READY: ":large_green_circle:",
    State.EXECUTING: ":gear:",
    State.RELEASED: ":rocket:",
    State.FAILED: ":x:",
    State.ROLLED_BACK: ":leftwards_arrow_with_hook:",
    State.CANCELLED: ":heavy_multiplication_x:",
    State.CLOSED: ":lock:",
}

def where(channel: str) -> str:
    """A conversation as a mention: a channel, or a person for direct messages."""
    return bk.user(channel) if channel[:1] in ("U", "W") else f"<#{channel}>"


def state_badge(state: State) -> str:
    return f"{STATE_EMOJI[state]} *{state.label.capitalize()}*"


def window(release: ReleaseRecord) -> str:
    return f"{bk.slack_date(release.planned_start)} → {bk.slack_date(release.planned_end)}"


def components_text(components: Sequence[str], limit: int = 20) -> str:
    if not components:
        return "_none listed_"
    shown = ", ".join(f"`{bk.escape(c)}`" for c in components[:limit])
    return shown + (f" and {len(components) - limit} more" if len(components) > limit else "")


def release_card(release: ReleaseRecord, model: ReleaseModel | None,
                 verifications: Sequence[VerificationRecord] = (), limits: plan.Limits = plan.CARD,
                 incidents: Sequence[IncidentRecord] = (), support: str | None = None) -> Rendered:
    """The one message per release that shows where it stands, updated in place; `limits`
    say how much of the release plan it shows before *Read the plan*; `support` is its early
    life support line, `incidents` those related to it (DESIGN.md §9)."""
    shown = plan.plan_view(release.plan, limits)
    model_name = (f"{bk.escape(model.name)} · `{release.model_ref}`" if model
                  else f"`{release.model_ref}` (its version cannot be read)")
    fields = [
        f"*State*\n{state_badge(release.state)}",
        f"*Release model*\n{model_name}",
        f"*Planned window*\n{window(release)}",
        f"*Owner*\n{bk.user(release.owner)}",
        f"*Components*\n{components_text(release.components)}",
    ]
    if release.change_ref:
        fields.append(f"*Change record*\n{bk.escape(release.change_ref)}")
    fields.append(shown.risk_field)
    blocks = [bk.header(f"{release.ref} · {release.title}"), bk.fields_section(fields)]
    if release.description:
        blocks.append(bk.section(bk.escape(release.description)))
    blocks += shown.sections
    progress = progress_lines(release, model, verifications)
    if progress:
        blocks.append(bk.section("\n".join(progress)))
    if support:
        blocks.append(bk.section(support))
    if incidents:
        from bot.rendering.incidents import incidents_section  # it renders with this module's helpers
        section = incidents_section(incidents, limit=5)
        if section is not None:
            blocks.append(section)
    buttons = card_buttons(release)
    if shown.truncated:
        buttons.append(plan.read_button(release.id))
    if buttons:
        blocks.append(bk.actions(*buttons, block_id=f"card:{release.id}"))
    blocks.append(bk.context(f"{release.ref} · `/release show {release.ref}` for the full record"))
    text = f"{release.ref} {bk.escape(release.title)} is {release.state.label}"
    return Rendered(bk.message_text(text), bk.cap(blocks))


def card_buttons(release: ReleaseRecord) -> list[bk.Block]:
    """What can be done next from the card; the use case still checks who may."""
    value = str(release.id)
    buttons: list[bk.Block] = []
    if release.state is State.PLANNED:
        buttons = [bk.button("Submit for approval", ids.SUBMIT, value, style="primary")]
    elif release.state is State.READY:
        buttons = [bk.button("Start", ids.START, value, style="primary"), bk.button("Verify", ids.VERIFY, value)]
    elif release.state in (State.APPROVED, State.EXECUTING):
        buttons = [bk.button("Verify", ids.VERIFY, value, style="primary")]
    if release.state in BEFORE_EXECUTION:
        buttons.append(bk.button("Change window", ids.CHANGE_WINDOW, value))
        buttons.append(bk.button("Edit plan", ids.PLAN_EDIT, value))
    return buttons


HELP = """*releasebot*: release management from release models.
• `/release models`: the release models you can plan from
• `/release new [MODEL] [TITLE…]`: plan a release (opens a form)
• `/release list [STATE|mine]`: releases, newest first
• `/release show REL-n`: a release record and its history
• `/release submit REL-n`: ask the approvers for approval
• `/release verify REL-n`: record verification outcomes
• `/release start REL-n`: start execution when the release is ready
• `/release plan REL-n`: edit (or read) its release notes, risk and impact, and rollback plan
• `/release rollback REL-n [REASON…]` (without a reason: the rollback form) · `/release cancel REL-n REASON…`
• `/release schedule [DAYS]`: upcoming releases, freezes and clashes
• `/release freeze START END REASON… [models=KEY,KEY]` · `/release freezes` · `/release unfreeze FRZ-n`
• `/release start REL-n override REASON…`: a release manager starts through a freeze
• `/release announce REL-n` · `/release survey REL-n` · `/release review REL-n` · `/release close REL-n`
• `/release owner REL-n @person`: hand a release over
• `/release incident REL-n REF [SUMMARY…] [URL]`: relate an incident (INC-42) to a release
• `/release close REL-n confirm`: close a release while its early life support still runs
• `/release metrics [30d] [MODEL]`: the key metrics
• `/release model-review MODEL [90d]`: review a release model, this period beside the last"""


def help_text(problem: str | None = None) -> str:
    return f"{problem}\n\n{HELP}" if problem else HELP


def models_list(catalog: Catalog) -> Rendered:
    blocks: list[bk.Block] = [bk.header("Release models")]
    for model in catalog:
        approvers = ", ".join(_mention(a) for a in model.approval.approvers)
        version = catalog.version(model.key)
        planners = ", ".join(_mention(p) for p in model.planners) if model.planners is not None else ""
        lines = [
            f"*{bk.escape(model.name)}* · `{model.key}`{f' (version `{version}`)' if version else ''} · "
            f"{model.approach.value}",
            bk.escape(model.description) if model.description else "",
            f"Approvers: {approvers} · quorum {model.approval.quorum}",
            f"Planned by: {planners}" if planners else "",
            f"Plan one: `/release new {model.key} TITLE…`",
        ]
        blocks.append(bk.section("\n".join(line for line in lines if line)))
    text = "Release models: " + ", ".join(model.key for model in catalog)
    return Rendered(bk.message_text(text), bk.cap(blocks))


def _mention(user_or_group: str) -> str:
    return f"<!subteam^{user_or_group}>" if user_or_group.startswith("S") else bk.user(user_or_group)


def release_list(releases: Sequence[ReleaseRecord], total: int, heading: str) -> Rendered:
    if not releases:
        return Rendered(f"{heading}: none.", [bk.section(f"*{bk.escape(heading)}*: none yet. "
                                                          "Plan one with `/release new`.")])
    lines = [
        f"*{r.ref}* {bk.escape(bk.truncate(r.title, 80))} · {r.model_key} · {state_badge(r.state)} · "
        f"{bk.slack_date(r.planned_start, '{date_short}')} · {bk.user(r.owner)}"
        for r in releases
    ]
    blocks: list[bk.Block] = [bk.section(f"*{bk.escape(heading)}* ({total})")]
    blocks.extend(bk.section(chunk) for chunk in _chunks(lines))
    if total > len(releases):
        blocks.append(bk.context(f"Showing the newest {len(releases)} of {total}."))
    text = f"{heading}: " + ", ".join(r.ref for r in releases)
    return Rendered(bk.message_text(text), bk.cap(blocks))


def _chunks(lines: Iterable[str], limit: int = bk.SECTION_TEXT) -> list[str]:
    """Pack lines into section-sized texts, never splitting a line."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = bk.truncate(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def describe_event(event: EventRecord) -> str:
    who = bk.user(event.actor) if event.actor else "releasebot"
    data = event.data
    reason = f": {bk.escape(str(data['reason']))}" if data.get("reason") else ""
    match event.kind:
        case EventKind.PLANNED:
            version = f" with release model `{data['model']}@{data['version']}`" if data.get("version") else ""
            return f"planned by {who}{version}"
        case EventKind.OWNER_CHANGED:
            return f"handed over by {who} from {bk.user(str(data.get('from')))} to {bk.user(str(data.get('to')))}"
        case EventKind.SUBMITTED:
            return f"submitted for approval by {who}"
        case EventKind.APPROVAL_RECORDED:
            return f"approved by {who} ({data.get('count')} of {data.get('quorum')})"
        case EventKind.APPROVED:
            return f"approved by {who}: quorum reached ({data.get('count')} of {data.get('quorum')})"
        case EventKind.REJECTED:
            return f"rejected by {who}{reason}"
        case EventKind.VERIFICATION_RECORDED:
            outcome = "passed" if data.get("passed") else "failed"
            return f"{bk.escape(str(data.get('criterion', 'a criterion')))} {outcome}, recorded by {who}"
        case EventKind.READY:
            if data.get("reason"):
                return f"ready: {bk.escape(str(data['reason']))} (noted by {who})"
            return f"ready: every pre-execution check passed (the last recorded by {who})"
        case EventKind.NOT_READY:
            return f"no longer ready: {bk.escape(str(data.get('criterion', 'a check')))} failed (recorded by {who})"
        case EventKind.STARTED:
            return f"execution started by {who}"
        case EventKind.RELEASED:
            return f"released: every release check passed (the last recorded by {who})"
        case EventKind.FAILED:
            failed = ", ".join(bk.escape(str(c)) for c in data.get("criteria", [])) or "a release check"
            return f"failed release verification: {failed} (recorded by {who})"
        case EventKind.MESSAGE_FAILED:
            return f"a message to {where(str(data.get('channel')))} could not be sent: `{data.get('error')}`"
        case EventKind.WINDOW_CHANGED:
            moved = data.get("to") or []
            span = " → ".join(bk.slack_date(datetime.fromisoformat(m)) for m in moved if isinstance(m, str))
            return f"window moved to {span} by {who}{reason}"
        case EventKind.COMMUNICATION_SENT:
            return f"“{bk.escape(str(data.get('template')))}” sent to {where(str(data.get('channel')))}"
        case EventKind.COMMUNICATION_SKIPPED:
            skipped_by = f" by {who}" if event.actor else ""
            return (f"“{bk.escape(str(data.get('template')))}” for {where(str(data.get('channel')))} "
                    f"skipped{skipped_by}{reason}")
        case EventKind.COMMUNICATIONS_WITHDRAWN:
            names = ", ".join(f"“{bk.escape(str(t))}”" for t in data.get("templates") or [])
            return f"{data.get('count')} scheduled message(s) withdrawn ({names}){reason}"
        case EventKind.ROLLED_BACK:
            return f"rolled back by {who}{reason}{_plan_followed(data)}"
        case EventKind.CANCELLED:
            return f"cancelled by {who}{reason}"
        case EventKind.PLAN_CHANGED:
            fields = describe_changes(str(f) for f in data.get("changed") or [])
            return f"{fields or 'plan'} edited by {who}{_risk_move(data)}"
        case EventKind.APPROVALS_RESET:
            withdrawn = ", ".join(bk.user(str(a)) for a in data.get("approvers") or [])
            return (f"approvals of {withdrawn} withdrawn: the release plan changed after approval"
                    + (" (back to awaiting approval)" if data.get("from") in ("approved", "ready") else ""))
        case EventKind.ROLLBACK_PLAN_NOTED:
            return f"rollback{_plan_followed(data)} (said by {who})"
        case EventKind.FREEZE_OVERRIDDEN:
            frozen = ", ".join(bk.escape(str(f)) for f in data.get("freezes") or [])
            return f":ice_cube: started through the freeze {frozen} by {who}{reason}"
        case EventKind.DELAYED_BY_FREEZE:
            frozen = ", ".join(bk.escape(str(f)) for f in data.get("freezes") or [])
            return f"the start was held past the planned start by the freeze {frozen}"
        case EventKind.INCIDENT_LINKED:
            during = " during early life support" if data.get("during_support") else ""
            summary = f": {bk.escape(str(data['summary']))}" if data.get("summary") else ""
            by = f"`{bk.escape(event.actor or '')}`" if (event.actor or "").startswith("token:") else who
            return f"incident {bk.escape(str(data.get('ref')))} related{during} by {by}{summary}"
        case EventKind.SUPPORT_ENDED:
            return "early life support ended: the owner was asked to review and close the release"
        case _:
            return f"{str(event.kind).replace('_', ' ')} by {who}{reason}"


def _plan_followed(data: Mapping[str, Any]) -> str:
    try:
        followed = PlanFollowed(str(data.get("plan_followed")))
    except ValueError:
        return ""
    if followed is PlanFollowed.NO_PLAN:
        return " · there was no rollback plan"
    return f" · rollback plan {followed.label}"


def _risk_move(data: Mapping[str, Any]) -> str:
    before, after = (data.get("from") or {}).get("risk"), (data.get("to") or {}).get("risk")
    if before == after or "risk" not in (data.get("changed") or []):
        return ""
    return f" (risk {bk.escape(str(before or 'not assessed'))} → {bk.escape(str(after or 'not assessed'))})"


def release_record(details: ReleaseDetails, model: ReleaseModel | None, max_events: int = 60) -> Rendered:
    """The release record for `/release show`: the card, then its history."""
    until = details.support_until
    support = (f":stethoscope: In early life support until {bk.slack_date(until)}" if details.in_support and until
               else (f"Early life support: until {bk.slack_date(until)} (over)"
                     if until and details.release.state in (State.RELEASED, State.CLOSED) else None))
    card = release_card(details.release, model, details.verifications, limits=plan.RECORD,
                        incidents=details.incidents, support=support)
    blocks = [block for block in card.blocks if block["type"] != "actions"][:-1]
    if plan.plan_view(details.release.plan, plan.RECORD).truncated:
        blocks.append(bk.actions(plan.read_button(details.release.id), block_id=f"record:{details.release.id}"))
    events = details.events
    lines = [f"{bk.slack_date(e.at)} · {describe_event(e)}" for e in events[-max_events:]]
    if len(events) > max_events:
        lines.insert(0, f"_{len(events) - max_events} earlier events not shown_")
    if details.verifications:
        outcomes = outcome_lines(details.verifications)
        if len(outcomes) > max_events:
            outcomes = [f"_{len(outcomes) - max_events} earlier outcomes not shown_", *outcomes[-max_events:]]
        blocks.append(bk.section("*Verification outcomes*"))
        blocks.extend(bk.section(chunk) for chunk in _chunks(outcomes))
    blocks.append(bk.section("*History*"))
    blocks.extend(bk.section(chunk) for chunk in _chunks(lines))
    scheduled = sorted((d for d in details.deliveries if d.state == "pending" and d.template),
                       key=lambda d: d.due_at)
    if scheduled:
        blocks.append(bk.section(
            "*Scheduled communications*\n" + "\n".join(
                f"• “{bk.escape(d.template or '')}” to {where(d.channel)}, due {bk.slack_date(d.due_at)}"
                for d in scheduled[:10])
            + (f"\n…and {len(scheduled) - 10} more" if len(scheduled) > 10 else "")
        ))
    failed = [d for d in details.deliveries if d.state == "failed"]
    if failed:
        blocks.append(bk.section(
            "*Messages not delivered*\n" + "\n".join(
                f"• to {where(d.channel)}: `{bk.escape(d.last_error or 'unknown error')}`" for d in failed[:10])
        ))
    return Rendered(bk.message_text(card.text), bk.cap(blocks))
