"""Communications and reminders rendered from Jinja2 templates, safely (DESIGN.md §4, §5).

- A template `NAME` is `templates/NAME.md.j2` beside the release model files if there is
  one, else the bundled `NAME.md.j2` of the top-level `templates` package.
- Templates render in Jinja2's sandbox. Every value a template prints goes through
  `finalize`, which escapes it for mrkdwn unless it is `Mrkdwn` the bot made itself (a
  mention, a date): a title `<!channel>` pings nobody, whatever the template does with it.
- Templates are checked when the catalog loads (`releasebot models check`, and `serve`
  before it listens): syntax, unknown filters, names and attributes that exist nowhere, and
  a trial render. Each problem names the template file and line, so a broken template is
  found by whoever edits it, not by the stakeholders at send time.
"""

from __future__ import annotations

import dataclasses
import re
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound, meta, nodes
from jinja2 import TemplateSyntaxError as JinjaSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from bot.release_plan import ReleasePlan
from bot.rendering import blocks as bk
from bot.rendering.plan import mrkdwn as plan_mrkdwn

#: The top-level `templates` package, found beside `bot` rather than imported: a folder named
#: `templates` in the working directory (the models' own, say) must not shadow it.
BUNDLED = Path(__file__).resolve().parent.parent / "templates"
SUFFIX = ".md.j2"
#: Reports the bot renders from the release record (not communications): they have their own
#: context, so the communication checks below do not try them with a communication's.
REPORTS = frozenset({"review"})
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


class Mrkdwn(str):
    """Text the bot itself made (a mention, a date token): printed as it is.

    Anything a template does to it (`upper`, `~`) gives a plain `str` again, which is
    escaped: the safe way round.
    """


def mention(user_id: str) -> str:
    """`<@U…>` for a well-formed user id; anything else is just text (and gets escaped)."""
    return Mrkdwn(bk.user(user_id)) if _USER_ID.match(user_id or "") else user_id


def safe(text: str) -> str:
    """Mark text the bot itself formatted (mentions, dates) as already fit for mrkdwn."""
    return Mrkdwn(text)


def date(moment: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    """A Slack date token: each reader sees the moment in their own time zone."""
    if not isinstance(moment, datetime):
        return str(moment)
    return Mrkdwn(bk.slack_date(moment, re.sub(r"[<>|]", "", fmt)))


def _finalize(value: Any) -> str:
    if isinstance(value, Mrkdwn):
        return value
    if value is None:
        return ""
    if isinstance(value, datetime):
        return date(value)
    if isinstance(value, list | tuple):
        return ", ".join(_finalize(item) for item in value)
    return bk.escape(str(value))


# --- what a template can use ------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseView:
    ref: str
    title: str
    description: str
    state: str
    owner: str
    model: str
    model_key: str
    components: tuple[str, ...]
    change_ref: str
    planned_start: datetime
    planned_end: datetime
    start: str
    end: str
    #: The release plan (DESIGN.md §5a): the notes and the rollback plan as mrkdwn the bot
    #: made from the Markdown typed (escaped first), the risk as `low`/`medium`/`high`;
    #: "" when not given, so `{% if release.release_notes %}` reads as it should.
    release_notes: str = ""
    risk: str = ""
    impact: str = ""
    rollback_plan: str = ""


def plan_variables(plan: ReleasePlan) -> dict[str, str]:
    """The plan's template variables: typed Markdown made safe mrkdwn, once, here."""
    return {
        "release_notes": Mrkdwn(plan_mrkdwn(plan.release_notes)) if plan.release_notes else "",
        "risk": plan.risk.value if plan.risk else "",
        "impact": plan.impact,
        "rollback_plan": Mrkdwn(plan_mrkdwn(plan.rollback_plan)) if plan.rollback_plan else "",
    }


@dataclass(frozen=True)
class ModelView:
    key: str
    name: str
    description: str
    approach: str
    approval_channel: str


@dataclass(frozen=True)
class EventView:
    """The lifecycle event that caused the message; empty for scheduled messages."""

    kind: str = ""
    actor: str = ""
    reason: str = ""
    criteria: tuple[str, ...] = ()
    at: datetime | None = None


@dataclass(frozen=True)
class Context:
    release: ReleaseView
    model: ModelView
    approach: str
    opt_in: str
    event: EventView
    offset: str
    audience: str

    def variables(self) -> dict[str, Any]:
        """The names a template sees: the views, plus shortcuts for the most used values."""
        return {
            "release": self.release, "model": self.model, "approach": self.approach, "opt_in": self.opt_in,
            "event": self.event, "offset": self.offset, "audience": self.audience,
            "ref": self.release.ref, "title": self.release.title, "owner": self.release.owner,
            "start": self.release.start, "end": self.release.end,
        }


#: Attributes a template may read from each view, for the check at load time.
VIEWS = {
    "release": {f.name for f in dataclasses.fields(ReleaseView)},
    "model": {f.name for f in dataclasses.fields(ModelView)},
    "event": {f.name for f in dataclasses.fields(EventView)},
}


def humanize(delta: timedelta) -> str:
    """`timedelta(hours=24)` → "24 hours", as a person says an offset."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def sample_contexts() -> list[Context]:
    """Contexts to try every template with: push and pull, with and without optional values."""
    start = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
    full = ReleaseView(
        ref="REL-1", title="Payments API 2.3", description="New refund flow", state="approved",
        owner=mention("U0SAMPLE"), model="Standard release", model_key="standard",
        components=("payments-api", "ledger-db"), change_ref="CHG-1", planned_start=start,
        planned_end=start + timedelta(hours=1), start=date(start), end=date(start + timedelta(hours=1)),
        **plan_variables(ReleasePlan.of("**Refunds** in one click: see [the guide](https://example.com/refunds)",
                                        "medium", "Refunds unavailable for up to 10 minutes",
                                        "1. Redeploy 2.2\n2. Replay the refund queue")),
    )
    bare = dataclasses.replace(full, description="", components=(), change_ref="", release_notes="", risk="",
                               impact="", rollback_plan="")
    event = EventView("rolled_back", mention("U0SAMPLE"), "Errors rose", ("Smoke tests pass",), start)
    push = ModelView("standard", "Standard release", "", "push", "C0SAMPLE")
    pull = dataclasses.replace(push, approach="pull")
    return [
        Context(full, push, "push", "", event, "24 hours", "channel"),
        Context(bare, pull, "pull", "Update from the app store.", EventView(), "", "owner"),
        Context(bare, pull, "pull", "", EventView(), "1 hour", "approvers"),
    ]


@dataclass(frozen=True)
class TemplateProblem:
    file: str
    line: int | None
    message: str


_CHECKED: dict[tuple[Any, ...], list[TemplateProblem]] = {}


class Templates:
    """The templates of one models folder (its `templates/` first), in a sandbox."""

    def __init__(self, models_folder: Path):
        self.overrides = models_folder / "templates"
        self.env = SandboxedEnvironment(
            loader=ChoiceLoader([FileSystemLoader(self.overrides), FileSystemLoader(BUNDLED)]),
            undefined=StrictUndefined, finalize=_finalize, autoescape=False,
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
        )
        self.env.filters["mention"] = mention
        self.env.filters["date"] = date

    def exists(self, name: str) -> bool:
        try:
            self.env.loader.get_source(self.env, name + SUFFIX)  # type: ignore[union-attr]
        except TemplateNotFound:
            return False
        return True

    def render(self, name: str, context: Context) -> str:
        """The template's mrkdwn; raises jinja2.TemplateError (callers fall back, and log)."""
        text = self.env.get_template(name + SUFFIX).render(context.variables())
        return re.sub(r"\n{3,}", "\n\n", text).strip()

    def render_report(self, name: str, variables: dict[str, Any]) -> str:
        """A report's mrkdwn (the release review), from variables the caller assembled."""
        text = self.env.get_template(name + SUFFIX).render(variables)
        return re.sub(r"\n{3,}", "\n\n", text).strip()

    def names(self) -> list[str]:
        """Every communication template there is: the bundled ones and those beside the models."""
        found = {p.name.removesuffix(SUFFIX) for p in BUNDLED.glob("*" + SUFFIX)}
        if self.overrides.is_dir():
            found |= {p.name.removesuffix(SUFFIX) for p in self.overrides.glob("*" + SUFFIX)}
        return sorted(found - REPORTS)

    def check(self, names: Iterable[str] | None = None) -> list[TemplateProblem]:
        """Everything wrong with the templates, each problem with its file and line.

        Results are remembered per template source and state of the overrides folder (an
        include may resolve there), so loading the same catalog again costs nothing.
        """
        problems: list[TemplateProblem] = []
        folder = tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                              for p in self.overrides.glob("*")) if self.overrides.is_dir() else ())
        for name in sorted(set(names) if names is not None else self.names()):
            try:
                source, filename, _ = self.env.loader.get_source(self.env, name + SUFFIX)  # type: ignore[union-attr]
            except TemplateNotFound:
                source, filename = "", None
            key = (str(self.overrides), name, filename, source, folder)
            if key not in _CHECKED:
                _CHECKED[key] = self._check_one(name)
            problems += _CHECKED[key]
        return problems

    def _display(self, filename: str | None, name: str) -> str:
        path = Path(filename) if filename else None
        if path and path.parent == self.overrides:
            return f"templates/{path.name}"
        return f"{name}{SUFFIX} (bundled)"

    def _check_one(self, name: str) -> list[TemplateProblem]:
        try:
            source, filename, _ = self.env.loader.get_source(self.env, name + SUFFIX)  # type: ignore[union-attr]
        except TemplateNotFound:
            return [TemplateProblem(f"templates/{name}{SUFFIX}", None, "no such template")]
        shown = self._display(filename, name)
        try:
            tree = self.env.parse(source, name + SUFFIX, filename)
        except JinjaSyntaxError as exc:
            return [TemplateProblem(shown, exc.lineno, exc.message or str(exc))]
        problems = _unknown_names(tree, shown, set(self.env.globals))
        try:
            self.env.compile(source, name + SUFFIX, filename)  # unknown filters and tests
        except JinjaSyntaxError as exc:
            problems.append(TemplateProblem(shown, exc.lineno, exc.message or str(exc)))
        if problems:
            return sorted(problems, key=lambda p: p.line or 0)
        for context in sample_contexts():
            try:
                self.env.get_template(name + SUFFIX).render(context.variables())
            except TemplateNotFound as exc:
                return [TemplateProblem(shown, _template_line(exc, filename),
                                        f"includes {exc.name}, which is neither beside the models nor bundled")]
            except TemplateError as exc:
                return [TemplateProblem(shown, _template_line(exc, filename), str(exc.message or exc))]
            except Exception as exc:  # noqa: BLE001 - a template can fail in many ways; all are reported
                return [TemplateProblem(shown, _template_line(exc, filename), f"{type(exc).__name__}: {exc}")]
        return []


def _unknown_names(tree: nodes.Template, shown: str, globals_: set[str]) -> list[TemplateProblem]:
    """Names and view attributes a template uses that no context provides."""
    known = set(sample_contexts()[0].variables())
    assigned = {node.name for node in tree.find_all(nodes.Name) if node.ctx in ("store", "param")}
    try:
        undeclared = meta.find_undeclared_variables(tree) - known - globals_
    except JinjaSyntaxError:  # an unknown filter stops Jinja's analysis; approximate it
        undeclared = {node.name for node in tree.find_all(nodes.Name)} - assigned - known - globals_
    usable = ", ".join(sorted(known))
    problems = [
        TemplateProblem(shown, node.lineno, f"`{node.name}` is not defined; a template can use: {usable}")
        for node in tree.find_all(nodes.Name) if node.name in undeclared and node.ctx == "load"
    ]
    for node in tree.find_all(nodes.Getattr):
        view = node.node.name if isinstance(node.node, nodes.Name) else None
        if view in VIEWS and view not in assigned and node.attr not in VIEWS[view]:
            problems.append(TemplateProblem(
                shown, node.lineno,
                f"`{view}.{node.attr}` does not exist; {view} has: {', '.join(sorted(VIEWS[view]))}",
            ))
    return list(dict.fromkeys(problems))  # once per line and message


def _template_line(exc: BaseException, filename: str | None) -> int | None:
    """The template line an exception was raised at (Jinja rewrites tracebacks to show it)."""
    line = getattr(exc, "lineno", None)
    for frame in traceback.extract_tb(exc.__traceback__):
        if filename and frame.filename == filename:
            line = frame.lineno
    return line
