"""The approval request: one message in the model's approval channel, updated in place as
approvers decide, ending with the outcome and no buttons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot import actions as ids
from bot.catalog import ReleaseModel
from bot.lifecycle import State
from bot.records import ApprovalRecord, ReleaseRecord
from bot.rendering import blocks as bk
from bot.rendering.freezes import clash_lines
from bot.rendering.messages import Rendered, components_text, window

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
                     cancel_reason: str | None = None, clashes: WindowClashes | None = None) -> Rendered:
    policy = model.approval
    fields = [
        f"*Release model*\n{bk.escape(model.name)}",
        f"*Planned window*\n{window(release)}",
        f"*Components*\n{components_text(release.components)}",
        f"*Requester*\n{bk.user(release.owner)}",
    ]
    if release.change_ref:
        fields.append(f"*Change record*\n{bk.escape(release.change_ref)}")
    status = approval_status(release, policy.quorum, decisions, cancel_reason)
    blocks: list[bk.Block] = [
        bk.header(f"Approval requested: {release.ref} · {release.title}"),
        bk.fields_section(fields),
    ]
    if release.description:
        blocks.append(bk.section(bk.escape(bk.truncate(release.description, 1500))))
    if clashes and release.state is State.AWAITING_APPROVAL:
        # Approvers decide knowing what the window runs into (DESIGN.md §8).
        blocks.append(bk.section("*Clashes with the change schedule*\n" + "\n".join(clash_lines(clashes))))
    blocks.append(bk.section(status))
    if release.state is State.AWAITING_APPROVAL:
        value = str(release.id)
        blocks.append(bk.actions(
            bk.button("Approve", ids.APPROVE, value, style="primary"),
            bk.button("Reject", ids.REJECT, value, style="danger"),
            block_id=f"approval:{release.id}",
        ))
    approvers = ", ".join(f"<!subteam^{a}>" if a.startswith("S") else bk.user(a) for a in policy.approvers)
    separation = "" if policy.self_approval else " · the requester cannot approve"
    blocks.append(bk.context(f"Approvers: {approvers} · quorum {policy.quorum}{separation}"))
    text = f"Approval requested for {release.ref} {bk.escape(release.title)}: {status}"
    return Rendered(bk.message_text(text), bk.cap(blocks))


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
