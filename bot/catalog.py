"""Release models: YAML files validated on load, looked up by key (DESIGN.md §5).

A release model is what a team agrees a type of release needs, so a broken file must be
caught before it is used: `releasebot models check` and `serve` both load the whole folder
and report every problem with its file and field.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from bot.lifecycle import PLAN_EVENTS, ApprovalRules, Stage
from bot.model_match import Match
from bot.templating import Templates

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: Any) -> timedelta:
    """`30m`, `4h`, `3d`: a number and a unit, as model files write durations."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration: write a number and a unit s, m, h or d (e.g. 4h)")
    delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if not delta:
        raise ValueError(f"{value!r} is no time at all: give a duration above zero")
    return delta


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
UserOrGroup = Annotated[str, Field(pattern=r"^[UWS][A-Z0-9]{2,}$")]
ChannelId = Annotated[str, Field(pattern=r"^[CGD][A-Z0-9]{2,}$")]
TemplateName = Annotated[str, Field(pattern=r"^[a-z0-9_-]+$")]


#: The made-up ids of the bundled examples and of `releasebot models init`: a kind letter,
#: then 0123 (real Slack ids are random), e.g. C0123APPROVALS, U0123ALICE, S0123CAB.
PLACEHOLDER_ID = re.compile(r"^[CGUWS]0123[A-Z0-9]*$")


class Approach(StrEnum):
    PUSH = "push"
    PULL = "pull"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApprovalPolicy(_Strict):
    channel: ChannelId
    approvers: list[UserOrGroup] = Field(min_length=1)
    quorum: int = Field(default=1, ge=1)
    self_approval: bool = False
    remind_every: Duration | None = None
    #: Approvals are for one plan: when its release notes, risk or rollback plan change after
    #: approval, withdraw them and ask again (DESIGN.md §5a). Off: they stand, marked changed.
    reapprove_on_change: bool = False
    #: A standard, pre-authorized change: a submitted release is approved without a person
    #: (recorded `pre_authorized`); no approval request is posted (DESIGN.md §7).
    pre_authorized: bool = False

    @model_validator(mode="after")
    def _quorum_reachable(self) -> ApprovalPolicy:
        groups = [a for a in self.approvers if a.startswith("S")]
        if not groups and self.quorum > len(set(self.approvers)):
            raise ValueError(f"quorum {self.quorum} can never be reached by {len(set(self.approvers))} approver(s)")
        return self

    @property
    def rules(self) -> ApprovalRules:
        return ApprovalRules(quorum=self.quorum, self_approval=self.self_approval,
                             approvers=tuple(self.approvers))


#: A criterion names a check, not a procedure: it is a key of the verification record
#: (and of its unique index), so it is kept to a line.
Criterion = Annotated[str, Field(min_length=1, max_length=300)]


class VerificationCriteria(_Strict):
    components: list[Criterion] = []
    procedures: list[Criterion] = []
    release: list[Criterion] = []
    #: Criteria only a pipeline records (through the API): people see them read-only in the
    #: checklist, so a test result is what the tests said, not what someone typed.
    by_pipeline: list[Criterion] = []

    @model_validator(mode="after")
    def _pipeline_criteria_listed(self) -> VerificationCriteria:
        listed = set(self.components) | set(self.procedures) | set(self.release)
        unknown = [c for c in self.by_pipeline if c not in listed]
        if unknown:
            raise ValueError(f"by_pipeline names {', '.join(repr(c) for c in unknown)}, which no stage lists: "
                             "name criteria of components, procedures or release")
        return self

    def for_stage(self, stage: Stage) -> list[str]:
        return list(getattr(self, stage.value))


class PlanEntry(_Strict):
    """One communication: sent on a lifecycle event, or at an offset from the window."""

    on: str | None = None
    before_start: Duration | None = None
    after_release: Duration | None = None
    template: TemplateName

    @model_validator(mode="after")
    def _one_trigger(self) -> PlanEntry:
        given = [n for n in ("on", "before_start", "after_release") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of on, before_start or after_release")
        if self.on is not None and self.on not in PLAN_EVENTS:
            raise ValueError(f"on: {self.on!r} is not a lifecycle event; use one of {', '.join(sorted(PLAN_EVENTS))}")
        return self


class PlanPolicy(_Strict):
    """What a release of this model must have planned beside its window (DESIGN.md §5a)."""

    require: list[Literal["release_notes", "risk", "rollback_plan"]] = []


class Communications(_Strict):
    channel: ChannelId
    plan: list[PlanEntry] = []
    #: For pull releases: how people opt in (shown in announcements), e.g. "Update from Self Service".
    opt_in: Annotated[str, Field(max_length=1000)] = ""


class Reminder(_Strict):
    before_start: Duration
    to: Literal["owner", "approvers"] = "owner"
    template: TemplateName


class SurveyQuestion(_Strict):
    key: Annotated[str, Field(pattern=r"^[a-z0-9_-]+$")]
    kind: Literal["rating", "text"]
    text: Annotated[str, Field(min_length=1, max_length=2000)]


class Survey(_Strict):
    after_release: Duration
    recipients: list[UserOrGroup] = Field(min_length=1)
    closes_after: Duration = timedelta(days=3)
    anonymous: bool = False
    questions: list[SurveyQuestion] = Field(min_length=1)


class ReleaseModel(_Strict):
    key: Annotated[str, Field(pattern=r"^[a-z0-9-]+$", max_length=64)]
    name: Annotated[str, Field(min_length=1, max_length=150)]
    description: str = ""
    approach: Approach = Approach.PUSH
    #: Who may plan releases of this model (users and user groups); None: anyone.
    planners: list[UserOrGroup] | None = None
    approval: ApprovalPolicy
    verification: VerificationCriteria = VerificationCriteria()
    plan: PlanPolicy = PlanPolicy()
    communications: Communications | None = None
    reminders: list[Reminder] = []
    survey: Survey | None = None
    #: Early life support (DESIGN.md §9): how long after its release a release is watched
    #: closely; incidents linked then are marked, and at its end the owner is asked to close it.
    early_life_support: Duration | None = None
    #: How often the release model itself is reviewed (`/release model-review`): the release
    #: managers are reminded when a review is due.
    review_every: Duration | None = None
    #: How the pipeline API finds this model for a release that names none (bot/model_match.py).
    match: Match | None = None

    def criteria(self, stage: Stage) -> list[str]:
        return self.verification.for_stage(stage)

    def slack_ids(self) -> list[tuple[str, str]]:
        """(field, id) of every channel, person and user group the model names.

        `releasebot doctor` resolves each against the workspace and `serve` warns about
        placeholders among them; a new field that names Slack ids belongs here too.
        """
        ids = [("approval.channel", self.approval.channel)]
        ids += [(f"planners.{i}", p) for i, p in enumerate(self.planners or [])]
        ids += [(f"approval.approvers.{i}", a) for i, a in enumerate(self.approval.approvers)]
        if self.communications is not None:
            ids.append(("communications.channel", self.communications.channel))
        if self.survey is not None:
            ids += [(f"survey.recipients.{i}", r) for i, r in enumerate(self.survey.recipients)]
        return ids

    def placeholder_ids(self) -> list[str]:
        """Ids copied from the examples that no workspace has (`C0123APPROVALS`, `U0123ALICE`)."""
        return list(dict.fromkeys(value for _, value in self.slack_ids() if PLACEHOLDER_ID.match(value)))

    def templates_used(self) -> list[tuple[str, str]]:
        """(field, template name) of every communication and reminder the model sends."""
        used = [(f"communications.plan.{i}.template", entry.template)
                for i, entry in enumerate(self.communications.plan if self.communications else [])]
        used += [(f"reminders.{i}.template", reminder.template) for i, reminder in enumerate(self.reminders)]
        if self.approval.remind_every is not None:
            used.append(("approval.remind_every", "approval_reminder"))
        return used


_HINTS_BY_PATTERN = {
    r"^[UWS][A-Z0-9]{2,}$": "must be a Slack user id (U…/W…) or user group id (S…), e.g. U0123ALICE",
    r"^[CGD][A-Z0-9]{2,}$": "must be a Slack channel id (C…/G…), e.g. C0123ANNOUNCE (not the #name)",
    r"^[a-z0-9-]+$": "must be lower-case letters, digits and dashes, e.g. standard-release",
    r"^[a-z0-9_-]+$": "must be lower-case letters, digits, dashes and underscores",
}


def _readable(err: Any) -> str:
    """pydantic's message, with regular expressions replaced by what to write."""
    if err.get("type") == "string_pattern_mismatch":
        hint = _HINTS_BY_PATTERN.get(str(err.get("ctx", {}).get("pattern")))
        if hint:
            return f"{err.get('input')!r} {hint}"
    return str(err["msg"]).removeprefix("Value error, ")


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.1 reads `on:` as `True:`; model files mean the word, so only true/false are booleans."""


_YamlLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}" if self.field else f"{self.file}: {self.message}"


class CatalogError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def version_of(content: bytes) -> str:
    """A release model version: the first 8 hex digits of the SHA-256 of the file's bytes."""
    return hashlib.sha256(content).hexdigest()[:8]


@dataclass(frozen=True)
class Source:
    """A model file as loaded: its version and its text (stored once per version)."""

    version: str
    text: str


class Catalog:
    """The release models of one folder, by key, each with the version of its file."""

    def __init__(self, models: dict[str, ReleaseModel], folder: Path, templates: Templates | None = None,
                 sources: dict[str, Source] | None = None, files: dict[str, str] | None = None):
        self._models = models
        self.folder = folder
        self.templates = templates or Templates(folder)
        #: Empty for a catalog built in code, not from files: its releases keep no version.
        self.sources: dict[str, Source] = sources or {}
        self._files = files or {}

    def file_of(self, key: str) -> str:
        """The file a model was read from (its name in the folder), for messages about it."""
        return self._files.get(key, f"{key}.yaml")

    @classmethod
    def load(cls, folder: Path) -> Catalog:
        """Load and validate every `*.yaml` in `folder`; raise with all problems at once."""
        problems: list[Problem] = []
        models: dict[str, ReleaseModel] = {}
        if not folder.is_dir():
            raise CatalogError([Problem(str(folder), "", "is not a folder of release model files")])
        files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
        if not files:
            problems.append(Problem(str(folder), "", "has no release model files (*.yaml)"))
        seen: dict[str, str] = {}
        sources: dict[str, Source] = {}
        for path in files:
            loaded = _load_file(path, problems)
            if loaded is None:
                continue
            model, source = loaded
            if model.key in seen:
                problems.append(Problem(path.name, "key", f"{model.key!r} is also the key of {seen[model.key]}"))
                continue
            seen[model.key] = path.name
            models[model.key] = model
            sources[model.key] = source
        templates = Templates(folder)
        problems += _template_problems(templates, models, seen)
        if problems:
            raise CatalogError(problems)
        return cls(models, folder, templates, sources, files=seen)

    def get(self, key: str) -> ReleaseModel | None:
        """The model as its file is now (new releases use it); a release's own rules come from
        its version (`bot.model_versions.ModelVersions.for_release`)."""
        return self._models.get(key)

    def version(self, key: str) -> str | None:
        source = self.sources.get(key)
        return source.version if source else None

    def __iter__(self) -> Any:
        return iter(sorted(self._models.values(), key=lambda m: m.key))

    def __len__(self) -> int:
        return len(self._models)

    @property
    def keys(self) -> list[str]:
        return sorted(self._models)


def _duplicates(node: yaml.Node, where: str = "") -> list[tuple[str, int, int]]:
    """Keys written twice in one mapping (PyYAML silently keeps the last): (path, line, line)."""
    found: list[tuple[str, int, int]] = []
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            path = f"{where}.{key}" if where else key
            line = key_node.start_mark.line + 1
            if key in first_line:
                found.append((path, first_line[key], line))
            else:
                first_line[key] = line
            found += _duplicates(value_node, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _duplicates(item, f"{where}.{index}")
    return found
def _template_problems(templates: Templates, models: dict[str, ReleaseModel], files: dict[str, str]) -> list[Problem]:
    """Templates the models name but nobody wrote, and every template that would not render:
    found now, by whoever edits them, rather than at send time."""
    problems: list[Problem] = []
    for key, model in models.items():
        for field, name in model.templates_used():
            if not templates.exists(name):
                problems.append(Problem(files[key], field, (
                    f"there is no template {name!r}: write templates/{name}.md.j2 beside the release models "
                    f"or use one there is ({', '.join(n for n in templates.names() if not n.startswith('_'))})"
                )))
    for problem in templates.check():
        problems.append(Problem(problem.file, f"line {problem.line}" if problem.line else "", problem.message))
    return problems


def parse_model(text: str) -> ReleaseModel | None:
    """A stored version's text as a release model again; None when it no longer validates."""
    try:
        raw = yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - safe loader subclass
        return ReleaseModel.model_validate(raw)
    except (yaml.YAMLError, ValidationError):
        return None


def _load_file(path: Path, problems: list[Problem]) -> tuple[ReleaseModel, Source] | None:
    try:
        content = path.read_bytes()
        text = content.decode("utf-8")
        raw = yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - safe loader subclass
        tree = yaml.compose(text, Loader=_YamlLoader)  # noqa: S506
        twice = _duplicates(tree) if tree is not None else []
    except OSError as exc:
        problems.append(Problem(path.name, "", f"cannot be read: {exc.strerror}"))
        return None
    except UnicodeDecodeError:
        problems.append(Problem(path.name, "", "is not UTF-8 text"))
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        hint = " (put text containing ':', '?' or '#' in quotes)" if "flow" in str(exc.context) else ""
        problems.append(Problem(path.name, where, f"is not valid YAML: {exc.problem}{hint}"))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(path.name, "", f"is not valid YAML: {exc}"))
        return None
    if not isinstance(raw, dict):
        problems.append(Problem(path.name, "", "must be a mapping of fields (key, name, approval, …)"))
        return None
    for field_path, first, again in twice:
        problems.append(Problem(path.name, field_path, f"is written twice (lines {first} and {again}); keep one"))
    if twice:
        return None
    try:
        return ReleaseModel.model_validate(raw), Source(version_of(content), text)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            problems.append(Problem(path.name, where, _readable(err)))
        return None
