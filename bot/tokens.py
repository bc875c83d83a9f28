"""Pipeline tokens (DESIGN.md §7): made by `releasebot token create`, shown once, stored as a
hash; scoped to release models or not; revoked, never deleted. Slack-free.

A token is 43 random URL-safe characters after `rbt_` (256 bits); the database keeps only its
SHA-256, so looking one up is a unique-index lookup of the hash (no per-token salt is needed
for a secret that random), and a stolen copy of the table opens nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from bot.calendar import Access, SettingToken
from bot.catalog import Catalog
from bot.clock import Clock
from bot.lifecycle import PIPELINE_PREFIX
from bot.outcome import Outcome
from storage.tables import ApiTokenRow
from storage.uow import UnitOfWorkFactory

PREFIX = "rbt_"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class PipelineToken:
    """A token as the API sees it once it is presented: who (`actor`), which models."""

    name: str
    models: frozenset[str] | None
    may_freeze: bool = False
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def actor(self) -> str:
        return f"{PIPELINE_PREFIX}{self.name}"

    def covers(self, model_key: str) -> bool:
        return self.models is None or model_key in self.models

    @classmethod
    def from_row(cls, row: ApiTokenRow) -> PipelineToken:
        return cls(row.name, frozenset(row.models) if row.models is not None else None, bool(row.may_freeze),
                   row.created_at, row.revoked_at)


@dataclass(frozen=True)
class NewToken:
    token: PipelineToken
    #: The secret itself: shown once, never stored.
    secret: str


#: How long a token once looked up is taken without asking the database again: a pipeline
#: polling its gate asks many times a minute. A revocation in this process is at once; one by
#: `releasebot token revoke` (another process) reaches a running server within this time.
REMEMBER = 2.0


class TokenService:
    def __init__(self, uow: UnitOfWorkFactory, catalog: Catalog, clock: Clock):
        self.uow = uow
        self.catalog = catalog
        self.clock = clock
        self._seen: dict[str, tuple[float, PipelineToken | None]] = {}

    async def create(self, name: str, models: list[str] | None = None, may_freeze: bool = False) -> Outcome[NewToken]:
        name = name.strip().lower()
        errors: dict[str, str] = {}
        if not NAME.match(name):
            errors["name"] = (f"“{name}” cannot name a token: use up to 64 lower-case letters, digits, dots, "
                              "dashes and underscores, e.g. payments-deploy.")
        if models is not None:
            unknown = [m for m in models if self.catalog.get(m) is None]
            if not models:
                errors["models"] = "Name at least one release model after --models, or leave --models out."
            elif unknown:
                errors["models"] = (f"There is no release model {', '.join(unknown)}; the release models are: "
                                    f"{', '.join(self.catalog.keys)}.")
        if errors:
            return Outcome.invalid(errors)
        secret = PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        scope = sorted(set(models)) if models is not None else None
        async with self.uow() as uow:
            if not await uow.tokens.add({"name": name, "token_hash": digest(secret), "models": scope,
                                         "may_freeze": may_freeze, "created_at": now}):
                return Outcome.refuse("name_taken", f"There is a token named {name} already (revoked or not): "
                                                    "choose another name.")
            await uow.commit()
        token = PipelineToken(name, frozenset(scope) if scope is not None else None, may_freeze, now)
        return Outcome.success(NewToken(token, secret), created=True)

    async def all(self) -> list[PipelineToken]:
        async with self.uow(read_only=True) as uow:
            return [PipelineToken.from_row(r) for r in await uow.tokens.all()]

    async def revoke(self, name: str) -> Outcome[str]:
        self._seen.clear()
        async with self.uow() as uow:
            if not await uow.tokens.revoke(name.strip().lower(), self.clock()):
                return Outcome.refuse("no_such_token", f"There is no token named {name} that is not revoked "
                                                       "already; `releasebot token list` lists them.")
            await uow.commit()
        return Outcome.success(name)

    async def authenticate(self, presented: str) -> PipelineToken | None:
        """The token presented, or None: missing, unknown or revoked."""
        if not presented or not presented.startswith(PREFIX) or len(presented) > 200:
            return None
        key = digest(presented)
        now = time.monotonic()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < REMEMBER:
            return seen[1]
        async with self.uow(read_only=True) as uow:
            row = await uow.tokens.by_hash(key)
        found = PipelineToken.from_row(row) if row is not None and row.revoked_at is None else None
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[key] = (now, found)
        return found


class TokenCalendarAccess:
    """`/calendar.ics?token=`: a pipeline token sees its models (all, unscoped); the one
    `RELEASEBOT_CALENDAR_TOKEN` of before still works while it is set, unscoped."""

    def __init__(self, tokens: TokenService, setting: str = ""):
        self.tokens = tokens
        self.setting = SettingToken(setting)

    async def __call__(self, presented: str) -> Access | None:
        found = await self.tokens.authenticate(presented)
        if found is not None:
            return Access(found.name, found.models)
        return await self.setting(presented)
