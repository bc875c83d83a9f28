"""Incidents and early life support as people read them: on the card and the record, the
answer to `/release incident`, and the owner's message when the support runs out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.records import IncidentRecord, ReleaseRecord
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered


def incident_line(incident: IncidentRecord, *, who: bool = True) -> str:
    """`INC-42` (linked) · summary · during early life support · by @alice, date."""
    ref = bk.escape(incident.ref)
    head = f"<{bk.escape(incident.url)}|{ref}>" if incident.url else f"*{ref}*"
    parts = [head]
    if incident.summary:
        parts.append(bk.escape(bk.truncate(incident.summary, 200)))
    if incident.during_support:
        parts.append("_during early life support_")
    if who:
        by = incident.linked_by
        linker = bk.user(by) if by[:1] in ("U", "W") else f"`{bk.escape(by)}`"
        parts.append(f"linked by {linker}, {bk.slack_date(incident.linked_at)}")
    return " · ".join(parts)


def incidents_section(incidents: Sequence[IncidentRecord], limit: int = 10) -> bk.Block | None:
    if not incidents:
        return None
    lines = [f"• {incident_line(i)}" for i in incidents[:limit]]
    if len(incidents) > limit:
        lines.append(f"…and {len(incidents) - limit} more (`/release show` lists them all)")
    return bk.section(f"*Incidents related to this release* ({len(incidents)})\n" + "\n".join(lines))


def support_line(until: datetime | None, in_support: bool) -> str | None:
    """The card's line on early life support: only while it runs."""
    if until is None or not in_support:
        return None
    return f":stethoscope: In early life support until {bk.slack_date(until)}"


def linked_answer(release_id: int, incident: IncidentRecord) -> str:
    support = " It came during the release's early life support." if incident.during_support else ""
    return (f"{bk.escape(incident.ref)} is now related to REL-{release_id}: the record, the card and the "
            f"review show it, and the metrics count it.{support}")


def support_ended_message(release: ReleaseRecord, until: datetime) -> Rendered:
    text = (f"The early life support of {release.ref} {bk.escape(release.title)} ended at "
            f"{bk.slack_date(until)}. Please review it and close it: `/release review {release.ref}` posts its "
            f"review (incidents linked during the support are in it), then `/release close {release.ref}`.")
    return Rendered(bk.message_text(f"Early life support of {release.ref} ended: review and close it"),
                    [bk.section(text), bk.context(f"{release.ref} · `/release show {release.ref}` for the record")])
