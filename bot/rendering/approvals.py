"""The approval request: one message in the model's approval channel, updated in place as
approvers decide, ending with the outcome and no buttons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot import actions as ids
from bot.catalog import ReleaseModel
from bot.lifecycle import EventKind, State
from bot.records import ApprovalRecord, EventRecord, ReleaseRecord
from bot.release_plan import describe_changes
from bot.rendering import blocks as bk
from bot.rendering.freezes import clash_lines
from bot.rendering.messages import Rendered, components_text, window
from bot.rendering.plan import CARD, REQUEST, plan_view, read_button

if TYPE_CHECKING:
    from bot.clashes import WindowClashes


def approval_anchor(release_id: int) -> str:
    return f"release:{release_id}:approval"


def _names(decisions: Sequence[ApprovalRecord]) -> str:
    return ", ".join(bk.user(d.approver) for d in decisions)


def approval_status(release: ReleaseRecord, quorum: int, decisions: Sequence[ApprovalRecord],
                    cancel_reason: str | None = None) -> str:
    approvals = [d for d in decisions if d.approved]
    rejection = next((d for d in decisions if not d.approved), None)
    count = f"{len(approvals)} of {quorum} approval{'s' if quorum != 1 else ''}"
    if release.state is State.AWAITING_APPROVAL:
        return f":hourglass_flowing_sand: *{count}*" + (f" — approved by {_names(approvals)}" if approvals else "")
    if release.state is State.REJECTED and rejection:
        return (f":no_entry: *Rejected* by {bk.user(rejection.approver)}: "
                f"{bk.escape(rejection.reason or '')}")
    if release.state is State.CANCELLED:
        why = f": {bk.escape(cancel_reason)}" if cancel_reason else ""
        return f":heavy_multiplication_x: *Cancelled* by {bk.user(release.owner)}{why} ({count} given)"
    if release.state is State.PLANNED:
        return ":memo: *Not submitted yet*"
    return f":white_check_mark: *Approved* — {count}: {_names(approvals)}"


def approval_request(release: ReleaseRecord, model: ReleaseModel, decisions: Sequence[ApprovalRecord],
                     cancel_reason: str | None = None, history: Sequence[EventRecord] = (),
                     clashes: WindowClashes | None = None) -> Rendered:
    """The request approvers decide on: the window, the components, and the plan (risk and
    impact, rollback plan, release notes), with what changed after approvals were given, and
    what the window runs into in the change schedule."""
    policy = model.approval
    plan = plan_view(release.plan, REQUEST, always_notes=True)
    fields = [
        f"*Release model*\n{bk.escape(model.name)}",
        f"*Planned window*\n{window(release)}",
        f"*Components*\n{components_text(release.components)}",
        f"*Requester*\n{bk.user(release.owner)}",
    ]
    if release.change_ref:
        fields.append(f"*Change record*\n{bk.escape(release.change_ref)}")
    fields.append(plan.risk_field)
    status = approval_status(release, policy.quorum, decisions, cancel_reason)
    blocks: list[bk.Block] = [
        bk.header(f"Approval requested: {release.ref} · {release.title}"),
        bk.fields_section(fields),
    ]
    if release.description:
        blocks.append(bk.section(bk.escape(bk.truncate(release.description, 1500))))
    blocks += plan.sections
    if clashes and release.state is State.AWAITING_APPROVAL:
        # Approvers decide knowing what the window runs into (DESIGN.md §8).
        blocks.append(bk.section("*Clashes with the change schedule*\n" + "\n".join(clash_lines(clashes))))
    blocks.append(bk.section(status))
    changes = plan_change_lines(release, decisions, history)
    if changes:
        blocks.append(bk.section("\n".join(changes)))
    buttons: list[bk.Block] = []
    if release.state is State.AWAITING_APPROVAL:
        value = str(release.id)
        buttons += [bk.button("Approve", ids.APPROVE, value, style="primary"),
                    bk.button("Reject", ids.REJECT, value, style="danger")]
    if plan.truncated:
        buttons.append(read_button(release.id))
    if buttons:
        blocks.append(bk.actions(*buttons, block_id=f"approval:{release.id}"))
    approvers = ", ".join(f"<!subteam^{a}>" if a.startswith("S") else bk.user(a) for a in policy.approvers)
    separation = "" if policy.self_approval else " · the requester cannot approve"
    again = " · a changed plan needs approval again" if policy.reapprove_on_change else ""
    blocks.append(bk.context(f"Approvers: {approvers} · quorum {policy.quorum}{separation}{again}"))
    text = f"Approval requested for {release.ref} {bk.escape(release.title)}: {status}"
    if changes:
        text += " · the plan changed after approval"
    return Rendered(bk.message_text(text), bk.cap(blocks))


def plan_change_lines(release: ReleaseRecord, decisions: Sequence[ApprovalRecord],
                      history: Sequence[EventRecord]) -> list[str]:
    """What approvers must know about the plan changing under their decisions: approvals
    given before a change ("changed after your approval"), or withdrawn because of one."""
    changes = [e for e in history if e.kind is EventKind.PLAN_CHANGED]
    lines: list[str] = []
    approvals = [d for d in decisions if d.approved]
    if changes and approvals:
        earlier = [d for d in approvals if d.at < changes[-1].at]
        if earlier:
            since = [e for e in changes if e.at > min(d.at for d in earlier)]
            fields = list(dict.fromkeys(f for e in since for f in e.data.get("changed") or []))
            who = bk.user(changes[-1].actor) if changes[-1].actor else "releasebot"
            lines.append(f":pencil2: *Changed after your approval*, {_names(earlier)}: {who} edited the "
                         f"{bk.escape(describe_changes(fields) or 'plan')} {bk.slack_date(changes[-1].at)}.")
    resets = [e for e in history if e.kind is EventKind.APPROVALS_RESET]
    if resets and release.state is State.AWAITING_APPROVAL:
        reset = resets[-1]
        withdrawn = ", ".join(bk.user(str(a)) for a in reset.data.get("approvers") or [])
        lines.append(f":leftwards_arrow_with_hook: The plan changed {bk.slack_date(reset.at)} after approval, so the "
                     f"approval of {withdrawn} was withdrawn: approvers, please decide again on the plan as it now is.")
    return lines


def owner_notice(release: ReleaseRecord, decisions: Sequence[ApprovalRecord]) -> Rendered:
    """What the release owner is told when the release authority has decided."""
    if release.state is State.REJECTED:
        rejection = next((d for d in decisions if not d.approved), None)
        who = bk.user(rejection.approver) if rejection else "an approver"
        reason = bk.escape(rejection.reason or "") if rejection else ""
        text = f":no_entry: {release.ref} {bk.escape(release.title)} was rejected by {who}: {reason}"
    else:
        approvals = [d for d in decisions if d.approved]
        text = (f":white_check_mark: {release.ref} {bk.escape(release.title)} is approved "
                f"({len(approvals)} of {len(approvals)}: {_names(approvals)}).")
    return Rendered(bk.message_text(text), [bk.section(text)])


def approval_reminder(release: ReleaseRecord, model: ReleaseModel, waiting: str) -> Rendered:
    """A nudge to an approver who has not answered; the buttons stay on the request."""
    text = (f":bell: {release.ref} *{bk.escape(release.title)}* has been waiting for your approval for {waiting}. "
            f"Approve or reject it on the request in <#{model.approval.channel}>.")
    context = f"Planned window: {window(release)} · requested by {bk.user(release.owner)}"
    blocks = [bk.section(text), bk.context(context)]
    return Rendered(bk.message_text(text), blocks)


def plan_changed_notice(release: ReleaseRecord, channel: str, changed: Sequence[str], by: str,
                        withdrawn: bool) -> Rendered:
    """The direct message to an approver whose approval predates a change of the plan."""
    what = describe_changes(changed) or "plan"
    head = (f":pencil2: The plan of {release.ref} *{bk.escape(bk.truncate(release.title, 200))}* changed after "
            f"your approval: {bk.user(by)} edited the {what}.")
    if withdrawn:
        tail = (f"Its release model asks for approval again when the plan changes, so your approval was "
                f"withdrawn: decide again on the request in <#{channel}>.")
    else:
        tail = f"Your approval stands; the request in <#{channel}> shows the plan as it now is."
    view = plan_view(release.plan, CARD)
    blocks = [bk.section(f"{head}\n{tail}"), bk.fields_section([view.risk_field]), *view.sections[:1],
              bk.actions(read_button(release.id), block_id=f"plan-changed:{release.id}")]
    return Rendered(bk.message_text(f"The plan of {release.ref} changed after your approval"), blocks)
