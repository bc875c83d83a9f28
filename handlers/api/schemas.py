"""The pipeline API's bodies, as pydantic models: requests are validated with them, answers
built from them, and the OpenAPI document (`/api/v1/openapi.json`) generated from them, so
the description cannot drift from what is checked."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SlackUser = Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,}$", description="a Slack user id, e.g. U0123ALICE")]
SlackChannel = Annotated[str, Field(pattern=r"^[CG][A-Z0-9]{2,}$", description="a Slack channel id")]
ModelKey = Annotated[str, Field(pattern=r"^[a-z0-9-]+$", max_length=64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateRelease(_Body):
    """A release to plan. Without `model`, the release model is detected from `service` and
    `environment` among the token's models (their `match:`)."""

    model: ModelKey | None = None
    title: Annotated[str, Field(min_length=1, max_length=500)]
    planned_start: AwareDatetime
    planned_end: AwareDatetime
    owner: SlackUser
    components: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=100)
    change_ref: Annotated[str, Field(max_length=200)] = ""
    description: Annotated[str, Field(max_length=20_000)] = ""
    service: Annotated[str, Field(max_length=200)] | None = None
    environment: Annotated[str, Field(max_length=200)] | None = None
    channel: SlackChannel | None = Field(default=None, description="where the release card goes "
                                                                   "(default: the model's approval channel)")
    release_notes: Annotated[str, Field(max_length=20_000)] | None = None
    risk: Literal["low", "medium", "high"] | None = None
    impact: Annotated[str, Field(max_length=1000)] | None = None
    rollback_plan: Annotated[str, Field(max_length=20_000)] | None = None


class VerificationResult(_Body):
    stage: Literal["components", "procedures", "release"]
    criterion: Annotated[str, Field(min_length=1, max_length=300)]
    outcome: Literal["pass", "fail"]
    evidence: Annotated[str, Field(max_length=2000)] | None = Field(default=None,
                                                                   description="a link to the CI run, a report…")
    note: Annotated[str, Field(max_length=1000)] | None = None


class VerificationBatch(_Body):
    results: list[VerificationResult] = Field(min_length=1, max_length=100)


class Reason(_Body):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class LinkIncident(_Body):
    ref: Annotated[str, Field(min_length=1, max_length=100)]
    summary: Annotated[str, Field(max_length=2000)] | None = None
    url: Annotated[str, Field(max_length=2000)] | None = None


class CreateFreeze(_Body):
    start: AwareDatetime
    end: AwareDatetime
    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    models: list[ModelKey] | None = Field(default=None, description="the release models it stops (default: all)")


class Error(BaseModel):
    error: str = Field(description="a stable code: unauthorized, forbidden, no_such_release, invalid, "
                                   "a lifecycle refusal's code (not_allowed, wrong_state, frozen, …)")
    message: str = Field(description="a sentence saying what to do instead")
    fields: dict[str, str] | None = Field(default=None, description="for 422: the problem of each field")


class ModelRef(BaseModel):
    key: str
    version: str | None


class Release(BaseModel):
    id: str = Field(description="REL-n")
    state: str
    model: ModelRef
    title: str
    owner: str
    planned_start: datetime
    planned_end: datetime
    components: list[str]
    change_ref: str | None
    description: str
    channel: str
    release_notes: str
    risk: str | None
    impact: str
    rollback_plan: str
    created_at: datetime
    updated_at: datetime


class Approval(BaseModel):
    by: str
    decision: str
    reason: str | None
    at: datetime


class Verification(BaseModel):
    stage: str
    criterion: str
    outcome: Literal["pass", "fail"]
    by: str
    at: datetime
    evidence: str | None
    note: str | None


class Incident(BaseModel):
    ref: str
    summary: str | None = None
    url: str | None = None
    by: str | None = None
    at: datetime | None = None


class EventOut(BaseModel):
    kind: str
    actor: str | None
    at: datetime
    data: dict[str, Any]


class ReleaseRecord(Release):
    approvals: list[Approval]
    verifications: list[Verification]
    incidents: list[Incident]
    events: list[EventOut]


class ReleasePage(BaseModel):
    releases: list[Release]
    next: str | None = Field(description="the cursor of the next page, or null on the last")


class Recorded(BaseModel):
    release: Release
    recorded: list[VerificationResult]


class GateAnswer(BaseModel):
    go: bool = Field(description="true: deploy now (ready and no freeze in force, or executing)")
    state: str
    reason: str
    retry_after: int | None = Field(description="seconds until asking again makes sense, or null")


class Freeze(BaseModel):
    id: str = Field(description="FRZ-n, or the recurring blackout's name")
    reason: str
    start: datetime
    end: datetime
    models: list[str] | None
    recurring: bool


class Freezes(BaseModel):
    freezes: list[Freeze]


class AuditEvent(EventOut):
    id: int
    release: str


class EventsPage(BaseModel):
    events: list[AuditEvent]
    next: str | None
