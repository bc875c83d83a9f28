"""What changed between two versions of a release model, in plain sentences (pure).

Release model communication (DESIGN.md §6): the people who work with a model hear what a
new version changes — approvers, quorum, criteria, plan entries, survey — and
`releasebot models check` shows the same lines before anything is deployed. People and
conversations are named by their bare ids (the Slack surface turns them into mentions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.catalog import PlanEntry, ReleaseModel, Reminder, Survey, format_duration
from bot.lifecycle import Stage


@dataclass(frozen=True)
class Change:
    """One line of what changed; `ids` are the people and conversations it names."""

    text: str
    ids: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.text


def changes(old: ReleaseModel, new: ReleaseModel) -> list[Change]:
    """One line per change from `old` to `new`; empty when only layout or comments changed."""
    lines: list[Change] = []
    if old.name != new.name:
        lines.append(Change(f"name: {old.name} → {new.name}"))
    lines += _listed("approvers", old.approval.approvers, new.approval.approvers, ids=True)
    if old.approval.quorum != new.approval.quorum:
        lines.append(Change(f"quorum: {old.approval.quorum} → {new.approval.quorum}"))
    if old.approval.self_approval != new.approval.self_approval:
        lines.append(Change("self-approval: " + ("now allowed" if new.approval.self_approval
                                                  else "no longer allowed")))
    if old.approval.channel != new.approval.channel:
        lines.append(Change(f"approval channel: {old.approval.channel} → {new.approval.channel}",
                            (old.approval.channel, new.approval.channel)))
    if old.approval.remind_every != new.approval.remind_every:
        lines.append(Change(f"approval reminders: {_every(old)} → {_every(new)}"))
    if old.planners != new.planners:
        if old.planners is None or new.planners is None:
            lines.append(Change("planners: " + (
                "anyone may plan now" if new.planners is None else f"only {', '.join(new.planners)} may plan now"),
                tuple(new.planners or ())))
        else:
            lines += _listed("planners", old.planners, new.planners, ids=True)
    for stage in Stage:
        lines += _listed(f"{stage.value} criteria", old.criteria(stage), new.criteria(stage))
    lines += _listed("communication plan", [plan_entry(e) for e in _plan(old)], [plan_entry(e) for e in _plan(new)])
    old_channel = old.communications.channel if old.communications else None
    new_channel = new.communications.channel if new.communications else None
    if old_channel != new_channel:
        lines.append(Change(f"announcement channel: {old_channel or 'none'} → {new_channel or 'none'}",
                            tuple(c for c in (old_channel, new_channel) if c)))
    lines += _listed("reminders", [reminder(r) for r in old.reminders], [reminder(r) for r in new.reminders])
    lines += _survey(old.survey, new.survey)
    return lines


def plan_entry(entry: PlanEntry) -> str:
    if entry.on is not None:
        return f"on {entry.on}: {entry.template}"
    if entry.before_start is not None:
        return f"{format_duration(entry.before_start)} before start: {entry.template}"
    assert entry.after_release is not None
    return f"{format_duration(entry.after_release)} after release: {entry.template}"


def reminder(item: Reminder) -> str:
    return f"{format_duration(item.before_start)} before start to the {item.to}: {item.template}"


def _plan(model: ReleaseModel) -> list[PlanEntry]:
    return list(model.communications.plan) if model.communications else []


def _every(model: ReleaseModel) -> str:
    every = model.approval.remind_every
    return f"every {format_duration(every)}" if every else "none"


def _listed(what: str, old: Sequence[str], new: Sequence[str], ids: bool = False) -> list[Change]:
    added = [item for item in new if item not in old]
    removed = [item for item in old if item not in new]
    lines = []
    if added:
        lines.append(Change(f"{what} added: {', '.join(added)}", tuple(added) if ids else ()))
    if removed:
        lines.append(Change(f"{what} removed: {', '.join(removed)}", tuple(removed) if ids else ()))
    return lines


def _survey(old: Survey | None, new: Survey | None) -> list[Change]:
    if old is None and new is None:
        return []
    if old is None:
        return [Change("survey: added")]
    if new is None:
        return [Change("survey: removed")]
    lines = _listed("survey recipients", old.recipients, new.recipients, ids=True)
    lines += _listed("survey questions", [q.text for q in old.questions], [q.text for q in new.questions])
    if old.after_release != new.after_release:
        lines.append(Change(f"survey sent: {format_duration(old.after_release)} → "
                            f"{format_duration(new.after_release)} after release"))
    if old.closes_after != new.closes_after:
        lines.append(Change(f"survey closes: {format_duration(old.closes_after)} → "
                            f"{format_duration(new.closes_after)} after it opens"))
    if old.anonymous != new.anonymous:
        lines.append(Change("survey: " + ("now anonymous" if new.anonymous else "no longer anonymous")))
    return lines
