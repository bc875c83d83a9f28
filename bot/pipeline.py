"""The pipeline API's use cases (DESIGN.md §7), Slack-free: what a CI/CD pipeline may ask,
over the same use cases as Slack (the same refusals, the same events, the same messages).

Who is asking is a `PipelineToken` (bot/tokens.py); its actor `token:NAME` goes to the use
cases, where the lifecycle gives it the pipeline's rights (`lifecycle.PIPELINE_MAY`). What a
token may reach is its release models: a release of another model is refused `forbidden`
here, before any use case runs. A release the pipeline plans without naming a model is of the
one model whose `match:` takes its service and environment (bot/model_match.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import model_match
from bot.catalog import Catalog, ReleaseModel
from bot.checklist import Entry, Phase, items
from bot.clock import Clock
from bot.freeze_input import LONGEST, FreezeRequest
from bot.freezes import Freeze, FreezeService
from bot.lifecycle import Stage, no_such_release
from bot.outcome import Outcome, Refusal
from bot.records import EventRecord, ReleaseDetails, ReleaseRecord
from bot.release_plan import ReleasePlan
from bot.releases import PlanDraft, ReleaseService
from bot.tokens import PipelineToken
from bot.verification import VerificationService
from storage.uow import UnitOfWorkFactory

#: The most a page of releases or events holds.
PAGE_LIMIT = 200


@dataclass(frozen=True)
class NewRelease:
    """What a pipeline plans (`POST /api/v1/releases`), as read from its request."""

    title: str
    planned_start: datetime
    planned_end: datetime
    owner: str
    model: str | None = None
    components: tuple[str, ...] = ()
    change_ref: str = ""
    description: str = ""
    service: str | None = None
    environment: str | None = None
    channel: str | None = None
    release_notes: str | None = None
    risk: str | None = None
    impact: str | None = None
    rollback_plan: str | None = None


@dataclass(frozen=True)
class Result:
    """One verification result a pipeline records."""

    stage: Stage
    criterion: str
    passed: bool
    evidence: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Page:
    releases: list[ReleaseRecord]
    next: int | None


@dataclass(frozen=True)
class EventEntry:
    id: int
    release_id: int
    model_key: str
    event: EventRecord


@dataclass(frozen=True)
class EventPage:
    events: list[EventEntry]
    next: int | None


@dataclass(frozen=True)
class Recorded:
    release: ReleaseRecord
    results: list[Result] = field(default_factory=list)


class AuditTrail:
    """The release events, out (`GET /api/v1/events`, `releasebot export events`)."""

    def __init__(self, uow: UnitOfWorkFactory):
        self.uow = uow

    async def page(self, token: PipelineToken | None, *, since: datetime | None = None,
                   release_id: int | None = None, limit: int = 100, cursor: int | None = None) -> EventPage:
        """Oldest first: every event with its actor, time and data; `token` None: all models."""
        scope = sorted(token.models) if token is not None and token.models is not None else None
        limit = max(1, min(limit, PAGE_LIMIT * 5))
        async with self.uow(read_only=True) as uow:
            rows = await uow.pipeline.events(after=cursor, since=since, release_id=release_id, models=scope,
                                             limit=limit + 1)
        found = [EventEntry(row.id, row.release_id, model, EventRecord.from_row(row)) for row, model in rows[:limit]]
        return EventPage(found, found[-1].id if len(rows) > limit else None)


def forbidden(token: PipelineToken, model_key: str, what: str) -> Refusal:
    scope = ", ".join(sorted(token.models or ()))
    return Refusal("forbidden", f"The token {token.name} is for the release models {scope}, so it cannot "
                                f"{what} of the release model {model_key}.")


class PipelineService:
    def __init__(self, uow: UnitOfWorkFactory, catalog: Catalog, clock: Clock, releases: ReleaseService,
                 verification: VerificationService, freezes: FreezeService):
        self.uow = uow
        self.catalog = catalog
        self.clock = clock
        self.releases = releases
        self.verification = verification
        self.freezes = freezes
        #: Each release's model, as read or planned here: a release never changes its model, so
        #: `may_reach` needs no read for a release seen before (a pipeline's every POST asks).
        self._model_of: dict[int, str] = {}

    # -- reaching a release ------------------------------------------------------------------

    async def may_reach(self, token: PipelineToken, release_id: int) -> Outcome[None]:
        """Whether the token may reach the release (`reach`, when the caller needs no record)."""
        model_key = self._model_of.get(release_id)
        if model_key is None:
            reached = await self.reach(token, release_id)
            if reached.ok:
                return Outcome.success(None)
            assert reached.refusal is not None  # `reach` refuses; it reads no input to find wrong
            return Outcome.of(reached.refusal)
        if not token.covers(model_key):
            return Outcome.of(forbidden(token, model_key, f"reach REL-{release_id}, a release"))
        return Outcome.success(None)

    def _remember(self, release: ReleaseRecord) -> None:
        if len(self._model_of) > 100_000:
            self._model_of.clear()
        self._model_of[release.id] = release.model_key

    async def reach(self, token: PipelineToken, release_id: int) -> Outcome[ReleaseRecord]:
        """The release, if the token may reach it: `no_such_release` (404) or `forbidden` (403)."""
        release = await self.releases.get(release_id)
        if release is None:
            return Outcome.of(no_such_release(release_id).refusal)
        self._remember(release)
        if not token.covers(release.model_key):
            return Outcome.of(forbidden(token, release.model_key, f"reach {release.ref}, a release"))
        return Outcome.success(release)

    # -- planning ----------------------------------------------------------------------------

    def detect(self, token: PipelineToken, request: NewRelease) -> Outcome[str]:
        """The release model of the request: named (and in the token's scope), or detected."""
        if request.model is not None:
            if self.catalog.get(request.model) is None:
                return Outcome.invalid({"model": f"There is no release model “{request.model}”; the release "
                                                 f"models are: {', '.join(self.catalog.keys)}."})
            if not token.covers(request.model):
                return Outcome.of(forbidden(token, request.model, "plan a release"))
            return Outcome.success(request.model)
        among = [m for m in self.catalog if token.covers(m.key)]
        found = model_match.candidates(((m.key, m.match) for m in among), request.service, request.environment)
        if len(found) == 1:
            return Outcome.success(found[0])
        given = f"service {request.service!r}, environment {request.environment!r}"
        if not found:
            matching = [m.key for m in among if m.match is not None]
            hint = (f"the models with a match: are {', '.join(matching)}" if matching
                    else "none of the token's release models has a match:")
            return Outcome.invalid({"model": f"No release model matches {given} ({hint}); name the model."})
        return Outcome.invalid({"model": f"Several release models match {given}: {', '.join(found)}; "
                                         "name the model."})

    async def plan(self, token: PipelineToken, request: NewRelease,
                   origin_key: str | None = None) -> Outcome[ReleaseRecord]:
        """Plan a release; `origin_key` (the Idempotency-Key) makes a retry return the same one."""
        chosen = self.detect(token, request)
        if not chosen.ok:
            return Outcome(refusal=chosen.refusal, errors=chosen.errors)
        model = self.catalog.get(chosen.unwrap())
        assert model is not None
        draft = PlanDraft(
            model_key=model.key, title=request.title, planned_start=request.planned_start,
            planned_end=request.planned_end, components=tuple(c.strip() for c in request.components if c.strip()),
            change_ref=request.change_ref, description=request.description, owner=request.owner,
            channel_id=request.channel or model.approval.channel,
            plan=ReleasePlan.of(request.release_notes, request.risk, request.impact, request.rollback_plan),
            risk_given=request.risk or "",
        )
        outcome = await self.releases.plan(draft, origin_key=origin_key, by=token.actor)
        if outcome.ok:
            self._remember(outcome.unwrap())
        if outcome.errors:
            names = {"start": "planned_start", "end": "planned_end"}
            return Outcome.invalid({names.get(k, k): v for k, v in outcome.errors.items()})
        return outcome

    # -- verification ------------------------------------------------------------------------

    async def record(self, token: PipelineToken, release_id: int, results: Sequence[Result],
                     submission: str) -> Outcome[Recorded]:
        """Record verification results, one or a batch, as one submission: the lifecycle decides
        once for all of them (two jobs posting at once make a release ready once)."""
        reached = await self.reach(token, release_id)
        if not reached.ok:
            return Outcome.of(reached.refusal) if reached.refusal else Outcome.invalid(reached.errors)
        model = await self.releases.model_of(reached.unwrap())
        if model is None:
            return Outcome.refuse("model_missing", f"{reached.unwrap().ref} uses a release model version that "
                                                   "cannot be read; ask an administrator to restore it.")
        phases = {Phase.RELEASE if r.stage is Stage.RELEASE else Phase.PRE_EXECUTION for r in results}
        if len(phases) != 1:
            return Outcome.invalid({"results": "Record results of one phase at a time: the release stage "
                                               "after execution, components and procedures before it."})
        phase = phases.pop()
        listed = {item.criterion: item.stage for item in items(model, phase)}
        errors: dict[str, str] = {}
        for index, result in enumerate(results):
            stages = [s for s in phase.stages if result.criterion in items_of(model, s)]
            if result.stage not in stages:
                known = items_of(model, result.stage)
                errors[f"results.{index}.criterion"] = (
                    f"The release model {model.key} has no {result.stage.value} criterion “{result.criterion}”"
                    + (f"; its {result.stage.value} criteria are: {', '.join(known)}." if known else "."))
        if errors:
            return Outcome.invalid(errors)
        # A criterion listed under components and procedures is one check, kept under the first.
        entries = [Entry(listed[r.criterion], r.criterion, r.passed, r.note, r.evidence) for r in results]
        outcome = await self.verification.record(release_id, token.actor, phase, entries, submission)
        if not outcome.ok:
            return Outcome(refusal=outcome.refusal, errors=outcome.errors)
        return Outcome.success(Recorded(outcome.unwrap(), list(results)))

    # -- reading -----------------------------------------------------------------------------

    async def show(self, token: PipelineToken, release_id: int) -> Outcome[ReleaseDetails]:
        reached = await self.reach(token, release_id)
        if not reached.ok:
            return Outcome.of(reached.refusal) if reached.refusal else Outcome.invalid(reached.errors)
        details = await self.releases.show(release_id)
        if details is None:
            return Outcome.of(no_such_release(release_id).refusal)
        return Outcome.success(details)

    async def page(self, token: PipelineToken, *, state: str | None, model: str | None, limit: int,
                   cursor: int | None) -> Page:
        """Releases newest first that the token may reach; `next` is the cursor of the page after."""
        scope = sorted(token.models) if token.models is not None else None
        if model is not None:
            scope = [model] if scope is None or model in scope else []
        limit = max(1, min(limit, PAGE_LIMIT))
        async with self.uow(read_only=True) as uow:
            rows = await uow.pipeline.releases(before=cursor, states=[state] if state else None, models=scope,
                                               limit=limit + 1)
        releases = [ReleaseRecord.from_row(r) for r in rows[:limit]]
        return Page(releases, releases[-1].id if len(rows) > limit else None)

    async def events(self, token: PipelineToken | None, *, since: datetime | None = None,
                     release_id: int | None = None, limit: int = 100, cursor: int | None = None) -> EventPage:
        return await AuditTrail(self.uow).page(token, since=since, release_id=release_id, limit=limit, cursor=cursor)

    # -- freezes -----------------------------------------------------------------------------

    async def freeze(self, token: PipelineToken, start: datetime, end: datetime, reason: str,
                     models: Sequence[str] | None) -> Outcome[Freeze]:
        """A freeze from the API: for tokens created with `--freezes` (a token is never a release
        manager); a scoped token freezes only its own models."""
        if not token.may_freeze:
            return Outcome.refuse("forbidden", f"The token {token.name} may not freeze the change schedule: "
                                               "create one with `releasebot token create NAME --freezes`.")
        scope = tuple(dict.fromkeys(models)) if models is not None else None
        if token.models is not None and (scope is None or not set(scope) <= token.models):
            return Outcome.refuse("forbidden", f"The token {token.name} may freeze only its release models "
                                               f"({', '.join(sorted(token.models))}): name them in models.")
        errors = freeze_problems(start, end, reason, scope, self.clock(), self.catalog.keys)
        if errors:
            return Outcome.invalid(errors)
        return await self.freezes.create(token.actor, FreezeRequest(start, end, reason.strip()[:1000], scope))


def items_of(model: ReleaseModel, stage: Stage) -> list[str]:
    """The criteria of a stage, with the one that stands in for none after execution."""
    if stage is Stage.RELEASE:
        return [item.criterion for item in items(model, Phase.RELEASE)]
    return model.criteria(stage)


def freeze_problems(start: datetime, end: datetime, reason: str, models: Sequence[str] | None, now: datetime,
                    keys: Sequence[str]) -> dict[str, str]:
    """What `/release freeze` would refuse, for the API's structured request."""
    errors: dict[str, str] = {}
    if end <= start:
        errors["end"] = "The freeze must end after it starts."
    elif end - start > LONGEST:
        errors["end"] = f"A freeze lasts at most {LONGEST.days} days; write a recurring blackout in freezes.yaml."
    elif end <= now:
        errors["end"] = "That freeze would have ended already; choose an end to come."
    if start < now - timedelta(days=1):
        errors["start"] = "A freeze starts from now on (or at most a day back)."
    if not reason.strip():
        errors["reason"] = "Say why the schedule is frozen: the reason is shown to everyone whose start it stops."
    unknown = [m for m in models or () if m not in keys]
    if models is not None and (not models or unknown):
        errors["models"] = f"Name release models among: {', '.join(keys)}."
    return errors
