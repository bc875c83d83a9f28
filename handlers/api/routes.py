"""The routes of `/api/v1` (DESIGN.md §7), each a thin translator: the pydantic body in, one
use case, its outcome out as JSON. `ROUTES` is the one table: the app is routed from it and
the OpenAPI document (handlers/api/openapi.py) is generated from it."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Discriminator, RootModel, Tag

from bot.context import Services
from bot.gate import LONGEST_WAIT, Gate
from bot.lifecycle import Stage, State
from bot.pipeline import NewRelease, PipelineService, Result, forbidden
from bot.records import parse_ref
from handlers.api import schemas, views
from handlers.api.edge import Call, Handler
from handlers.api.views import Reply, error, invalid, not_ok, ok, refused

PREFIX = "/api/v1"
#: Refusals of linking an incident that are about a field of the request: 422 on that field.
INPUT_REFUSALS = {"bad_reference": "ref", "bad_url": "url"}


def _one_or_batch(value: Any) -> str:
    return "VerificationBatch" if isinstance(value, dict) and "results" in value else "VerificationResult"


class Verifications(RootModel[Annotated[
        Annotated[schemas.VerificationResult, Tag("VerificationResult")]
        | Annotated[schemas.VerificationBatch, Tag("VerificationBatch")],
        Discriminator(_one_or_batch)]]):
    """One result, or `{"results": [...]}` for several (told apart by `results`, so a wrong
    field is named as the shape sent has it)."""


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    handler: Handler
    answer: type[BaseModel]
    body: type[BaseModel] | None = None
    statuses: tuple[int, ...] = ()
    query: tuple[Param, ...] = ()
    created: int = 200


def cursor(value: int | None) -> str | None:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=") if value is not None else None


def read_cursor(text: str | None) -> int | None | str:
    """The id a cursor holds; a string (the problem) when it holds none."""
    if not text:
        return None
    try:
        return int(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode())
    except ValueError:
        return "This cursor was not given by the API; pass the `next` of a page back unchanged."


class Api:
    """The handlers, over the services the composition root built."""

    def __init__(self, services: Services, pipeline: PipelineService, gate: Gate):
        self.services = services
        self.pipeline = pipeline
        self.gate = gate

    # -- releases ----------------------------------------------------------------------------

    async def create(self, call: Call) -> Reply:
        body: schemas.CreateRelease = call.body
        request = NewRelease(
            title=body.title, planned_start=body.planned_start, planned_end=body.planned_end, owner=body.owner,
            model=body.model, components=tuple(body.components), change_ref=body.change_ref,
            description=body.description, service=body.service, environment=body.environment, channel=body.channel,
            release_notes=body.release_notes, risk=body.risk, impact=body.impact, rollback_plan=body.rollback_plan)
        origin = f"api:{call.token.name}:{call.key}" if call.key else None
        outcome = await self.pipeline.plan(call.token, request, origin)
        if not outcome.ok:
            return not_ok(outcome)
        return ok(views.release(outcome.unwrap()), 201)

    async def list_releases(self, call: Call) -> Reply:
        query = call.request.query
        state = query.get("state") or None
        problems: dict[str, str] = {}
        if state is not None and state not in {s.value for s in State}:
            problems["state"] = f"“{state}” is not a state; one of: {', '.join(s.value for s in State)}."
        limit = _limit(query, problems)
        after = read_cursor(query.get("cursor"))
        if isinstance(after, str):
            problems["cursor"] = after
        if problems:
            return invalid(problems)
        page = await self.pipeline.page(call.token, state=state, model=query.get("model") or None, limit=limit,
                                        cursor=after if isinstance(after, int) else None)
        return ok(schemas.ReleasePage(releases=[views.release(r) for r in page.releases], next=cursor(page.next)))

    async def show(self, call: Call) -> Reply:
        release_id = _release_id(call)
        if release_id is None:
            return _no_such(call)
        outcome = await self.pipeline.show(call.token, release_id)
        if not outcome.ok:
            return not_ok(outcome)
        return ok(views.details(outcome.unwrap(), await self._incidents(release_id)))

    async def _incidents(self, release_id: int) -> list[schemas.Incident]:
        """The incidents linked to the release (DESIGN.md §9), shown with it."""
        return [views.incident(i) for i in await self.services.incidents.for_release(release_id)]

    async def submit(self, call: Call) -> Reply:
        return await self._move(call, lambda rid: self.services.approvals.submit(rid, call.token.actor))

    async def start(self, call: Call) -> Reply:
        return await self._move(call, lambda rid: self.services.verification.start(rid, call.token.actor))

    async def rollback(self, call: Call) -> Reply:
        reason = call.body.reason
        return await self._move(call, lambda rid: self.services.verification.rollback(rid, call.token.actor, reason))

    async def cancel(self, call: Call) -> Reply:
        reason = call.body.reason
        return await self._move(call, lambda rid: self.services.releases.cancel(rid, call.token.actor, reason))

    async def _move(self, call: Call, use_case: Any) -> Reply:
        release_id = _release_id(call)
        if release_id is None:
            return _no_such(call)
        reached = await self.pipeline.may_reach(call.token, release_id)
        if not reached.ok:
            return not_ok(reached)
        outcome = await use_case(release_id)
        if not outcome.ok:
            return not_ok(outcome)
        return ok(views.release(outcome.unwrap()))

    async def verify(self, call: Call) -> Reply:
        release_id = _release_id(call)
        if release_id is None:
            return _no_such(call)
        given = call.body.root
        listed: Sequence[schemas.VerificationResult] = (
            given.results if isinstance(given, schemas.VerificationBatch) else [given])
        results = [Result(Stage(r.stage), r.criterion, r.outcome == "pass", r.evidence, r.note) for r in listed]
        # The submission keys the results' unique index: the same key records nothing twice.
        submission = f"api:{call.token.name}:{call.key}:{release_id}" if call.key else f"api:{uuid.uuid4().hex}"
        outcome = await self.pipeline.record(call.token, release_id, results, submission)
        if not outcome.ok:
            return not_ok(outcome)
        recorded = outcome.unwrap()
        return ok(schemas.Recorded(release=views.release(recorded.release), recorded=list(listed)), 201)

    async def incidents(self, call: Call) -> Reply:
        release_id = _release_id(call)
        if release_id is None:
            return _no_such(call)
        reached = await self.pipeline.may_reach(call.token, release_id)
        if not reached.ok:
            return not_ok(reached)
        body: schemas.LinkIncident = call.body
        outcome = await self.services.incidents.link(release_id, call.token.actor, body.ref, body.summary, body.url)
        if not outcome.ok:
            if outcome.refusal is not None and outcome.refusal.code in INPUT_REFUSALS:
                return invalid({INPUT_REFUSALS[outcome.refusal.code]: outcome.refusal.message})
            return not_ok(outcome)
        return ok(views.incident(outcome.unwrap()), 201)

    async def gate_(self, call: Call) -> Reply:
        release_id = _release_id(call)
        if release_id is None:
            return _no_such(call)
        try:
            wait = float(call.request.query.get("wait", "0"))
        except ValueError:
            wait = -1
        if not 0 <= wait <= LONGEST_WAIT:
            return invalid({"wait": f"Wait from 0 to {LONGEST_WAIT} seconds."})
        looked = await self.gate.ask(release_id)  # one read: the release and the answer
        if looked is None:
            return _no_such(call)
        release, first = looked
        if not call.token.covers(release.model_key):
            return refused(forbidden(call.token, release.model_key, f"reach {release.ref}, a release"))
        answer = await self.gate.hold(release_id, first, wait)
        return ok(schemas.GateAnswer(go=answer.go, state=answer.state, reason=answer.reason,
                                     retry_after=answer.retry_after))

    # -- the change schedule and the audit trail ----------------------------------------------

    async def freezes(self, call: Call) -> Reply:
        found = await self.services.freezes.current_and_coming()
        models = call.token.models
        shown = [f for f in found if models is None or f.models is None or any(m in models for m in f.models)]
        return ok(schemas.Freezes(freezes=[views.freeze(f) for f in shown]))

    async def freeze(self, call: Call) -> Reply:
        body: schemas.CreateFreeze = call.body
        outcome = await self.pipeline.freeze(call.token, body.start, body.end, body.reason, body.models)
        if not outcome.ok:
            return not_ok(outcome)
        return ok(views.freeze(outcome.unwrap()), 201)

    async def events(self, call: Call) -> Reply:
        query = call.request.query
        problems: dict[str, str] = {}
        since: datetime | None = None
        if query.get("since"):
            try:
                since = datetime.fromisoformat(query["since"])
            except ValueError:
                problems["since"] = "Give `since` as an ISO 8601 time, e.g. 2026-12-01T00:00:00Z."
            if since is not None and since.tzinfo is None:
                problems["since"] = "Give `since` with its offset (Z for UTC)."
        limit = _limit(query, problems, 100)
        release_id = parse_ref(query["release"]) if query.get("release") else None
        if query.get("release") and release_id is None:
            problems["release"] = "Name a release like REL-7."
        after = read_cursor(query.get("cursor"))
        if isinstance(after, str):
            problems["cursor"] = after
        if problems:
            return invalid(problems)
        if release_id is not None:
            reached = await self.pipeline.may_reach(call.token, release_id)
            if not reached.ok:
                return not_ok(reached)
        page = await self.pipeline.events(call.token, since=since, release_id=release_id, limit=limit,
                                          cursor=after if isinstance(after, int) else None)
        return ok(schemas.EventsPage(events=[views.audit_event(e) for e in page.events], next=cursor(page.next)))

    def routes(self) -> list[Route]:
        rel = f"{PREFIX}/releases/{{ref}}"
        page = (Param("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 20}, "page size"),
                Param("cursor", {"type": "string"}, "the `next` of the previous page"))
        return [
            Route("POST", f"{PREFIX}/releases", "Plan a release (the model named, or detected from match:)",
                  self.create, schemas.Release, schemas.CreateRelease, (403, 422), created=201),
            Route("GET", f"{PREFIX}/releases", "Releases the token may reach, newest first", self.list_releases,
                  schemas.ReleasePage, None, (422,),
                  (Param("state", {"type": "string", "enum": [s.value for s in State]}, "only in this state"),
                   Param("model", {"type": "string"}, "only of this release model"), *page)),
            Route("GET", rel, "The release record", self.show, schemas.ReleaseRecord, None, (403, 404)),
            Route("POST", f"{rel}/submit", "Submit for approval", self.submit, schemas.Release, None,
                  (403, 404, 409)),
            Route("POST", f"{rel}/verifications", "Record verification results, one or a batch", self.verify,
                  schemas.Recorded, Verifications, (403, 404, 409, 422), created=201),
            Route("GET", f"{rel}/gate", "May the pipeline deploy now?", self.gate_, schemas.GateAnswer, None,
                  (403, 404, 422),
                  (Param("wait", {"type": "number", "minimum": 0, "maximum": LONGEST_WAIT},
                         "hold the answer up to this many seconds until it changes"),)),
            Route("POST", f"{rel}/start", "Start execution (refused while a freeze is in force)", self.start,
                  schemas.Release, None, (403, 404, 409)),
            Route("POST", f"{rel}/rollback", "Roll back", self.rollback, schemas.Release, schemas.Reason,
                  (403, 404, 409, 422)),
            Route("POST", f"{rel}/cancel", "Cancel before execution", self.cancel, schemas.Release, schemas.Reason,
                  (403, 404, 409, 422)),
            Route("POST", f"{rel}/incidents", "Link an incident", self.incidents, schemas.Incident,
                  schemas.LinkIncident, (403, 404, 409, 422), created=201),
            Route("GET", f"{PREFIX}/freezes", "Freezes in force and coming", self.freezes, schemas.Freezes),
            Route("POST", f"{PREFIX}/freezes", "Freeze the change schedule (tokens made with --freezes)",
                  self.freeze, schemas.Freeze, schemas.CreateFreeze, (403, 422), created=201),
            Route("GET", f"{PREFIX}/events", "The audit trail, oldest first", self.events, schemas.EventsPage, None,
                  (403, 404, 422),
                  (Param("since", {"type": "string", "format": "date-time"}, "events at or after this time"),
                   Param("release", {"type": "string"}, "only the events of this release (REL-n)"), *page)),
        ]


def _limit(query: Any, problems: dict[str, str], default: int = 20) -> int:
    try:
        limit = int(query.get("limit", str(default)))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 200:
        problems["limit"] = "Give a limit from 1 to 200."
    return limit


def _release_id(call: Call) -> int | None:
    return parse_ref(call.request.match_info.get("ref", ""))


def _no_such(call: Call) -> Reply:
    return error(404, "no_such_release", f"There is no release “{call.request.match_info.get('ref', '')}”; "
                                         "releases are named like REL-7.")
