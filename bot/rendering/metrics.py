"""The key metrics as people read them: `/release metrics` and the App Home dashboard.

Each figure is shown with the counts it was computed from ("80% (8 of 10)"), so a reader
can check it against `/release list`, and the footer says which releases were counted.
"""

from __future__ import annotations

from datetime import timedelta

from bot.catalog import Catalog
from bot.metrics import KeyMetrics
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered
from bot.rendering.plan import RISK_EMOJI

NONE = "—"


def duration(span: timedelta | None) -> str:
    """A length of time as a person says it: `2 d 4 h`, `3 h 20 min`, `45 min`."""
    if span is None:
        return NONE
    seconds = int(span.total_seconds())
    negative, seconds = seconds < 0, abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days} d {hours} h" if hours else f"{days} d"
    elif hours:
        text = f"{hours} h {minutes} min" if minutes else f"{hours} h"
    elif minutes:
        text = f"{minutes} min"
    else:
        text = "under a minute"
    return f"-{text}" if negative else text


def percent(rate: float | None) -> str:
    return NONE if rate is None else f"{rate:.0%}"


def _of(part: int, whole: int, what: str = "") -> str:
    return f"({part} of {whole}{' ' + what if what else ''})"


def metrics_fields(m: KeyMetrics) -> list[str]:
    """The figures, one Block Kit field each (a section holds at most ten)."""
    outcomes = (f"{m.released} released · {m.failed} failed · {m.rolled_back} rolled back · "
                f"{m.rejected} rejected · {m.cancelled} cancelled · {m.open} open")
    if m.executed:
        success = f"{percent(m.success_rate)} {_of(m.released, m.executed, 'executed')}"
        failure = f"{percent(m.failure_rate)} {_of(m.failed, m.executed)}"
        rollback = f"{percent(m.rollback_rate)} {_of(m.rolled_back, m.executed)}"
    else:
        success = failure = rollback = f"{NONE} no release executed yet"
    if m.started:
        schedule = (f"{percent(m.schedule_adherence)} started within the planned window "
                    f"{_of(m.started_in_window, m.started - m.delayed_by_freeze)} · average start delay "
                    f"{duration(m.avg_start_delay)}")
        if m.delayed_by_freeze:
            schedule += f" · {m.delayed_by_freeze} delayed by a freeze"
    else:
        schedule = f"{NONE} no release started yet"
    if m.lead_times:
        lead = (f"median {duration(m.lead_time_median)} · 90th percentile {duration(m.lead_time_p90)} "
                f"({m.lead_times} released)")
    else:
        lead = f"{NONE} no release released yet"
    if m.backlog:
        oldest = f"REL-{m.backlog_oldest_id}, {duration(m.backlog_oldest_wait)}"
        backlog = (f"{m.backlog} not yet executed · average wait {duration(m.backlog_avg_wait)} · "
                   f"oldest {oldest}")
    else:
        backlog = "nothing waiting"
    satisfaction = (f"{m.satisfaction:.1f} / 5 from {m.ratings} rating{'s' if m.ratings != 1 else ''}"
                    if m.satisfaction is not None else f"{NONE} no ratings yet")
    responses = (f"{percent(m.response_rate)} {_of(m.respondents, m.invitations, 'invited')}"
                 if m.invitations else f"{NONE} no survey sent yet")
    if m.incidents:
        incidents = (f"{m.incidents} incident{'s' if m.incidents != 1 else ''} · "
                     f"{percent(m.incident_share)} of releases had one {_of(m.with_incidents, m.started, 'started')}")
    else:
        incidents = "none linked" + (f" {_of(0, m.started, 'started')}" if m.started else "")
    return [
        f"*Releases planned: {m.created}*\n{outcomes}",
        f"*Success rate*\n{success}",
        f"*Failure rate*\n{failure}",
        f"*Rollback rate*\n{rollback}",
        f"*Schedule adherence*\n{schedule}",
        f"*Lead time* (created → released)\n{lead}",
        f"*Backlog now*\n{backlog}",
        f"*Satisfaction*\n{satisfaction}",
        f"*Survey response rate*\n{responses}",
        f"*Incidents related to releases*\n{incidents}",
    ]


def footer(m: KeyMetrics) -> str:
    """What was counted: the definitions a reader needs to trust the numbers."""
    return (
        f"Releases created {bk.slack_date(m.since)} – {bk.slack_date(m.until)} ({m.days} days)"
        f"{f', release model `{m.model_key}`' if m.model_key else ''}; the backlog is as of now. "
        "Outcomes come from each release's events: a rolled-back release counts as a rollback, not a success, "
        "and the rates divide by the releases executed. Start delay is time after the planned start (an early "
        "start counts as none); a start a freeze held past the window counts as delayed by a freeze, not "
        "against adherence; lead time runs from creation to the first release (median and 90th "
        "percentile by nearest rank). A respondent is an invited person who answered. The share of releases "
        "with an incident is of those started."
    )


def title(m: KeyMetrics, catalog: Catalog | None = None) -> str:
    model = catalog.get(m.model_key) if catalog and m.model_key else None
    which = f" · {model.name}" if model else (f" · {m.model_key}" if m.model_key else "")
    return f"Key metrics · last {m.days} days{which}"


def metrics_blocks(m: KeyMetrics, catalog: Catalog | None = None) -> list[bk.Block]:
    return [bk.header(title(m, catalog)), bk.fields_section(metrics_fields(m)), bk.context(footer(m))]


def risk_lines(m: KeyMetrics) -> list[str]:
    """Outcomes per risk level of the release plan: does "low risk" really fail less?"""
    lines = []
    for r in m.by_risk:
        level = f"{RISK_EMOJI[r.risk]} *{r.risk.label}*" if r.risk else "*Not assessed*"
        if r.executed:
            figures = (f"success {percent(r.success_rate)} {_of(r.released, r.executed)} · "
                       f"rollback {percent(r.rollback_rate)} {_of(r.rolled_back, r.executed)} · "
                       f"failure {percent(r.failure_rate)} {_of(r.failed, r.executed)}")
        else:
            figures = f"{NONE} none executed yet"
        lines.append(f"{level}: {r.created} planned · {figures}")
    return lines


def metrics_message(m: KeyMetrics, catalog: Catalog | None = None) -> Rendered:
    """The ephemeral answer to `/release metrics`."""
    summary = (f"{title(m, catalog)}: {m.created} releases planned, success rate {percent(m.success_rate)}, "
               f"backlog {m.backlog}.")
    blocks = metrics_blocks(m, catalog)
    if m.by_risk:
        blocks.insert(-1, bk.section("*By risk* (the rates divide by the releases executed)\n"
                                     + "\n".join(risk_lines(m))))
    if m.incidents_by_model:
        blocks.insert(-1, bk.section("*Incidents by release model*\n" + "\n".join(
            f"`{key}`: {n} incident{'s' if n != 1 else ''} in {r} release{'s' if r != 1 else ''}"
            for key, n, r in m.incidents_by_model)))
    return Rendered(bk.message_text(summary), bk.cap(blocks))
