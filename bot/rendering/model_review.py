"""The release model review as people read it: a Slack message (mrkdwn, Block Kit) and the
same report as a Markdown file (`releasebot report model`). One list of lines feeds both, so
the numbers cannot differ between them; only the markup does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.catalog import ReleaseModel, format_duration
from bot.charts import outcomes_text
from bot.metrics import KeyMetrics
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered
from bot.rendering.metrics import duration, percent

if TYPE_CHECKING:
    from bot.model_review import ModelReview

NONE = "—"
SHOWN = 15


@dataclass(frozen=True)
class Markup:
    bold: Callable[[str], str]
    text: Callable[[str], str]          # what people typed
    person: Callable[[str | None], str]
    date: Callable[[datetime], str]
    code: Callable[[str], str]


def _person_slack(who: str | None) -> str:
    if not who:
        return "anonymous"
    return bk.user(who) if who[:1] in ("U", "W") else f"`{bk.escape(who)}`"


SLACK = Markup(bold=lambda s: f"*{s}*", text=bk.escape, person=_person_slack,
               date=lambda d: bk.slack_date(d, "{date_short}"), code=lambda s: f"`{s}`")
MARKDOWN = Markup(bold=lambda s: f"**{s}**", text=lambda s: s.replace("\n", " "),
                  person=lambda who: who or "anonymous", date=lambda d: d.strftime("%Y-%m-%d"),
                  code=lambda s: f"`{s}`")


def _of(part: int, whole: int) -> str:
    return f"({part} of {whole})"


def figure_rows(m: KeyMetrics) -> list[tuple[str, str]]:
    """(figure, value) for one period, each value with the counts it comes from."""
    executed = m.executed
    return [
        ("Releases planned", str(m.created)),
        ("Outcomes", f"{m.released} released · {m.failed} failed · {m.rolled_back} rolled back · "
                     f"{m.rejected} rejected · {m.cancelled} cancelled · {m.open} open"),
        ("Success rate", f"{percent(m.success_rate)} {_of(m.released, executed)}" if executed else NONE),
        ("Failure rate", f"{percent(m.failure_rate)} {_of(m.failed, executed)}" if executed else NONE),
        ("Rollback rate", f"{percent(m.rollback_rate)} {_of(m.rolled_back, executed)}" if executed else NONE),
        ("Schedule adherence", f"{percent(m.schedule_adherence)} "
                               f"{_of(m.started_in_window, m.started - m.delayed_by_freeze)}" if m.started else NONE),
        ("Lead time (median)", duration(m.lead_time_median) if m.lead_times else NONE),
        ("Incidents", f"{m.incidents} · {percent(m.incident_share)} of started releases had one "
                      f"{_of(m.with_incidents, m.started)}" if m.started else str(m.incidents)),
        ("Satisfaction", f"{m.satisfaction:.1f} / 5 ({m.ratings} ratings)" if m.satisfaction is not None else NONE),
    ]


def sections(review: ModelReview, mk: Markup) -> list[tuple[str, list[str]]]:
    """The report's sections: (title, lines)."""
    now, before = figure_rows(review.current), figure_rows(review.previous)
    figures = [f"{name}: {mk.bold(value)} (previous: {old})" for (name, value), (_, old) in zip(now, before,
                                                                                                 strict=True)]

    def rel(release_id: int) -> str:
        return f"REL-{release_id}"

    criteria = [f"{mk.text(criterion)} ({stage}): failed in {n} release{'s' if n != 1 else ''}"
                for stage, criterion, n in review.failed_criteria] or ["none failed"]
    failures = [f"{rel(n.release_id)}: {mk.text(n.text)}" for n in review.failures[:SHOWN]] or ["none"]
    rollbacks = [f"{rel(n.release_id)}: {mk.text(n.text)}" for n in review.rollbacks[:SHOWN]] or ["none"]
    incidents = [f"{rel(rid)}: {mk.text(i.ref)}" + (f" {mk.text(i.summary)}" if i.summary else "")
                 + (" (during early life support)" if i.during_support else "")
                 for rid, i in review.incidents[:SHOWN]] or ["none"]
    lessons = [f"{rel(n.release_id)}: {mk.text(n.text)} ({mk.person(n.who)})" for n in review.lessons[:SHOWN]] \
        or ["none recorded: the owners add them to the release reviews"]
    comments = [f"{rel(n.release_id)}: “{mk.text(n.text)}” ({mk.person(n.who)})" for n in review.comments[:SHOWN]] \
        or ["none"]
    versions = [f"{mk.code(f'{review.model_key}@{version}')}: {n} release{'s' if n != 1 else ''}"
                for version, n in review.versions] or ["no release planned in the period"]
    return [
        (f"Key metrics, last {review.days} days beside the {review.days} days before", figures),
        ("Most failed criteria", criteria),
        ("Why releases failed", failures),
        ("Why releases were rolled back", rollbacks),
        ("Incidents related to releases", incidents),
        ("Lessons learnt", lessons),
        ("Survey comments", comments),
        ("Release model versions in use", versions),
        ("Outcomes per week", outcomes_text(review.weeks)),
    ]


def _title(review: ModelReview) -> str:
    return f"Release model review: {review.model_name} ({review.model_key})"


def _period(review: ModelReview, mk: Markup) -> str:
    return (f"Releases of {mk.code(review.model_key)} planned {mk.date(review.since)} – {mk.date(review.until)} "
            f"({review.days} days), beside the {review.days} days before. Rates divide by the releases executed; "
            "a rolled-back release counts as a rollback.")


def model_review_message(review: ModelReview) -> Rendered:
    blocks: list[bk.Block] = [bk.header(_title(review)), bk.context(_period(review, SLACK))]
    for title, lines in sections(review, SLACK):
        if title == "Outcomes per week":
            continue  # they come with the chart, as its text
        text = f"*{title}*\n" + "\n".join(f"• {line}" for line in lines)
        blocks.append(bk.section(bk.truncate(text, bk.SECTION_TEXT)))
    blocks.append(bk.context("The chart of the outcomes per week follows, with its numbers as text. "
                             "What to change in the release model? Edit its file; the next review shows the effect."))
    c, p = review.current, review.previous
    text = (f"{_title(review)}: {c.created} releases planned (previous {p.created}), success rate "
            f"{percent(c.success_rate)} (previous {percent(p.success_rate)}), rollback rate "
            f"{percent(c.rollback_rate)}, {c.incidents} incidents.")
    return Rendered(bk.message_text(bk.escape(text)), bk.cap(blocks))


def model_review_markdown(review: ModelReview) -> str:
    out = [f"# {_title(review)}", "", _period(review, MARKDOWN), ""]
    for title, lines in sections(review, MARKDOWN):
        out += [f"## {title}", "", *(f"- {line}" for line in lines), ""]
    return "\n".join(out)


def review_due_message(model: ReleaseModel, due: datetime, last: datetime, reviewed: bool = True) -> Rendered:
    """`last`: the last model review, or (`reviewed` False) when the bot first saw the model."""
    every = format_duration(model.review_every) if model.review_every else ""
    since = f"last reviewed {bk.slack_date(last)}" if reviewed else f"never reviewed since {bk.slack_date(last)}"
    text = (f"A review of the release model *{bk.escape(model.name)}* (`{model.key}`) is due (every {every}; "
            f"due {bk.slack_date(due)}, {since}). Post it where the team can discuss it: "
            f"`/release model-review {model.key} {every if every.endswith('d') else '90d'}`.")
    return Rendered(bk.message_text(f"A review of the release model {model.key} is due"), [bk.section(text)])
