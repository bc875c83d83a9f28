"""The review report as a message: the facts of the record put into the review template's
words (people as mentions, times as Slack dates), then the rendered template in sections,
with the owner's buttons to add lessons learnt and to close the release."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import mean
from typing import Any

from bot import actions as ids
from bot.lifecycle import OUTCOMES, EventKind, State
from bot.records import ApprovalRecord, EventRecord, IncidentRecord, ReleaseRecord
from bot.release_plan import PlanFollowed
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered, where
from bot.templating import safe


@dataclass(frozen=True)
class Communication:
    """A communication the release sent: what (its dedupe key after the release), where, when."""

    what: str
    channel: str
    sent_at: datetime


@dataclass(frozen=True)
class SurveyFacts:
    recipients: int
    respondents: int
    ratings: list[int]
    #: (text, respondent; None when the survey is anonymous)
    comments: list[tuple[str, str | None]]


@dataclass(frozen=True)
class ReviewFacts:
    """Everything the review shows, as read from the record when it is rendered."""

    release: ReleaseRecord
    events: list[EventRecord]
    approvals: list[ApprovalRecord]
    quorum: int | None
    communications: list[Communication]
    survey: SurveyFacts | None
    incidents: list[IncidentRecord]


def review_context(facts: ReviewFacts) -> dict[str, Any]:
    """The review template's variables (`templates/review.md.j2` shows each in use)."""
    release, events = facts.release, facts.events
    first = _first_by_kind(events)
    started = first.get(EventKind.STARTED)
    ended = first.get(EventKind.RELEASED) or first.get(EventKind.FAILED)
    outcome_event = next((e for e in reversed(events) if e.kind in (EventKind.RELEASED, EventKind.FAILED,
                                                                      EventKind.ROLLED_BACK)), None)
    rollback = first.get(EventKind.ROLLED_BACK)
    overridden = first.get(EventKind.FREEZE_OVERRIDDEN)
    held = first.get(EventKind.DELAYED_BY_FREEZE)
    return {
        "freeze_overridden": {"who": safe(bk.user(overridden.actor or "")),
                              "at": safe(bk.slack_date(overridden.at)),
                              "freezes": ", ".join(str(f) for f in overridden.data.get("freezes") or []),
                              "reason": str(overridden.data.get("reason", ""))} if overridden else None,
        "delayed_by_freeze": ", ".join(str(f) for f in held.data.get("freezes") or []) if held else None,
        "outcome": str(outcome_event.kind).replace("_", " ") if outcome_event else release.state.label,
        "closed": release.state is State.CLOSED,
        "planned_start": safe(bk.slack_date(release.planned_start)),
        "planned_end": safe(bk.slack_date(release.planned_end)),
        "actual_start": safe(bk.slack_date(started.at)) if started else None,
        "actual_end": safe(bk.slack_date(ended.at)) if ended else None,
        "delay": _delay(started.at - release.planned_start) if started else None,
        "quorum": facts.quorum if facts.quorum is not None else "?",
        "approvals": [{"who": safe(bk.user(a.approver)), "decision": "approved" if a.approved else "rejected",
                       "at": safe(bk.slack_date(a.at)), "reason": a.reason} for a in facts.approvals],
        "verifications": [_verification(e) for e in events if e.kind is EventKind.VERIFICATION_RECORDED],
        "communications": [{"what": c.what, "where": safe(where(c.channel)), "at": safe(bk.slack_date(c.sent_at))}
                           for c in facts.communications],
        "rollback": {"who": safe(bk.user(rollback.actor or "")), "at": safe(bk.slack_date(rollback.at)),
                     "reason": str(rollback.data.get("reason", "")),
                     "plan": _plan_followed(events)} if rollback else None,
        "risk": {"level": release.plan.risk.value if release.plan.risk else None,
                 "impact": release.plan.impact},
        "survey": _survey(facts.survey),
        "incidents": [{"ref": i.ref, "summary": i.summary, "url": i.url,
                       "during_support": i.during_support, "who": safe(_linker(i.linked_by)),
                       "at": safe(bk.slack_date(i.linked_at))} for i in facts.incidents],
        "lessons": [{"text": str(e.data.get("text", "")), "who": safe(bk.user(e.actor or "")),
                     "at": safe(bk.slack_date(e.at))} for e in events if e.kind is EventKind.LESSONS_LEARNT],
    }


def _survey(survey: SurveyFacts | None) -> dict[str, Any] | None:
    if survey is None:
        return None
    counts = Counter(survey.ratings)
    return {
        "recipients": survey.recipients,
        "respondents": survey.respondents,
        "average": mean(survey.ratings) if survey.ratings else None,
        "distribution": {n: counts.get(n, 0) for n in range(1, 6)},
        "comments": [{"text": text, "who": None if who is None else safe(bk.user(who))}
                     for text, who in survey.comments],
    }


def _first_by_kind(events: list[EventRecord]) -> dict[EventKind | str, EventRecord]:
    first: dict[EventKind | str, EventRecord] = {}
    for event in events:
        first.setdefault(event.kind, event)
    return first


def _plan_followed(events: list[EventRecord]) -> str:
    """Whether the rollback went by the rollback plan, as the rollback (or someone after it) said."""
    said = [str(e.data["plan_followed"]) for e in events
            if e.kind in (EventKind.ROLLED_BACK, EventKind.ROLLBACK_PLAN_NOTED) and e.data.get("plan_followed")]
    try:
        return PlanFollowed(said[-1]).label if said else "not said"
    except ValueError:
        return "not said"


def _verification(event: EventRecord) -> dict[str, Any]:
    data = event.data
    passed = data.get("passed", data.get("outcome") == "pass")
    return {"criterion": str(data.get("criterion", "a criterion")), "outcome": "passed" if passed else "failed",
            "who": safe(bk.user(event.actor or "")), "at": safe(bk.slack_date(event.at)),
            "note": data.get("note")}


def _linker(by: str) -> str:
    """Who linked an incident: a person as a mention, a pipeline by its token's name."""
    return bk.user(by) if by[:1] in ("U", "W") else f"`{bk.escape(by)}`"


def _delay(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes == 0:
        return "on time"
    sign = "late" if minutes > 0 else "early"
    minutes = abs(minutes)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h {minutes}m" if hours else f"{minutes}m") + f" {sign}"


def sections(markdown: str, limit: int = bk.SECTION_TEXT) -> list[str]:
    """Split rendered mrkdwn at blank lines into section-sized parts (long parts truncated)."""
    parts: list[str] = []
    current = ""
    for paragraph in (p.strip() for p in markdown.split("\n\n")):
        if not paragraph:
            continue
        if current and len(current) + 2 + len(paragraph) > limit:
            parts.append(current)
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        parts.append(current)
    return [bk.truncate(p, limit) for p in parts]


def review_message(release: ReleaseRecord, markdown: str) -> Rendered:
    blocks: list[bk.Block] = [bk.header(f"Release review: {release.ref} · {release.title}")]
    blocks += [bk.section(part) for part in sections(markdown)]
    value = str(release.id)
    buttons = [bk.button("Add lessons learnt", ids.LESSONS, value)]
    if release.state in OUTCOMES:
        buttons.append(bk.button("Close release", ids.CLOSE, value, style="primary"))
    blocks = bk.cap(blocks, bk.MESSAGE_BLOCKS - 2)
    blocks.append(bk.actions(*buttons, block_id=f"review:{release.id}"))
    blocks.append(bk.context(f"{release.ref} · release model `{release.model_ref}` · release review · "
                             "buttons are for the release owner"))
    text = f"Release review of {release.ref} {bk.escape(release.title)}"
    return Rendered(bk.message_text(text), blocks)
