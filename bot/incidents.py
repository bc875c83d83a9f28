"""Incidents related to releases, and early life support (DESIGN.md §9). Slack-free.

An incident is linked to a release by its reference in the incident tool (`INC-42`), with an
optional summary and URL, by a person (`U…`) or a pipeline (`token:NAME`). The link is a fact
of the release (an `incident_linked` event through `Transitions`, so the card follows) and a
row of `incidents`, unique per release and reference: linking twice is refused by the
database, not by a look first.

Early life support is the release model's `early_life_support: DURATION` after a release was
released. Incidents linked in it are marked so; when it runs out, `SupportWatch.tick` records
its end on the release and queues one direct message to the owner inviting them to review
and close it. The outbox's unique dedupe key makes that message once, whichever replica's
tick gets there first and however often the bot restarts.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from bot import lifecycle
from bot.clock import Clock
from bot.lifecycle import Event, EventKind, Stayed
from bot.model_versions import ModelVersions
from bot.outbox import Message
from bot.outcome import Outcome
from bot.records import IncidentRecord, ReleaseRecord
from bot.rendering.incidents import support_ended_message
from bot.roles import Roles
from bot.support import support_end
from bot.transitions import Transitions
from storage.uow import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

#: A reference in an incident tool: `INC-42`, `INC0012345`, `OPS-7`, `PD#1234`. Letters, digits
#: and `-_.#/:`, starting with a letter or digit, holding a digit, at most 64 characters.
_REF = re.compile(r"^(?=[^\d]*\d)[A-Za-z0-9][A-Za-z0-9_.#/:-]{0,63}$")
_URL = re.compile(r"^https?://[^\s<>|]{1,2000}$")
SUMMARY_LIMIT = 500
#: A pipeline of the pipeline API acts as `token:NAME` (DESIGN.md §7).
TOKEN_PREFIX = "token:"


def clean_ref(ref: str) -> str | None:
    """The reference as stored (upper case, so `inc-42` and `INC-42` are one), or None."""
    ref = ref.strip()
    return ref.upper() if _REF.match(ref) else None


def clean_url(url: str) -> str | None:
    """A URL as Slack sends one in a command (`<https://…>` or `<https://…|label>`), or bare."""
    url = url.strip()
    if url.startswith("<") and url.endswith(">"):
        url = url[1:-1].split("|", 1)[0]
    return url if _URL.match(url) else None


def split_words(words: list[str]) -> tuple[str | None, str | None]:
    """`SUMMARY…` as typed after the reference: (summary, url); the first word that is a URL
    is the incident's link, the rest its summary."""
    url: str | None = None
    rest: list[str] = []
    for word in words:
        if url is None and (found := clean_url(word)) is not None:
            url = found
        else:
            rest.append(word)
    return (" ".join(rest) or None), url


class IncidentService:
    def __init__(self, uow: UnitOfWorkFactory, versions: ModelVersions, transitions: Transitions, roles: Roles):
        self.uow = uow
        self.versions = versions
        self.transitions = transitions
        self.roles = roles

    async def link(self, release_id: int, user: str, ref: str, summary: str | None = None,
                   url: str | None = None) -> Outcome[IncidentRecord]:
        """Relate incident `ref` to the release; `user` is a Slack user id or `token:NAME`."""
        cleaned = clean_ref(ref)
        if cleaned is None:
            return Outcome.refuse("bad_reference", f"“{ref.strip()[:80]}” is not an incident reference: give the "
                                                   "incident's id in your incident tool, such as INC-42.")
        link = None
        if url is not None and url.strip():
            link = clean_url(url)
            if link is None:
                return Outcome.refuse("bad_url", "The incident's link must be a web address starting with "
                                                 "https:// or http://.")
        text = (summary or "").strip()[:SUMMARY_LIMIT] or None
        actor: lifecycle.Actor | None = None
        if not user.startswith(TOKEN_PREFIX):
            who = await self.roles.of(release_id, user)
            if isinstance(who, lifecycle.Refused):
                return Outcome.of(who.refusal)
            actor = who.actor
        linked: list[IncidentRecord] = []

        async def decide(uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> lifecycle.Decision:
            if refused := lifecycle.may_link_incident(release.snapshot, actor):
                return refused
            until = await support_end(uow, self.versions, release)
            during = lifecycle.in_support(release.state, until, now)
            row = await uow.incidents.add({"release_id": release.id, "ref": cleaned, "summary": text, "url": link,
                                           "linked_by": user, "linked_at": now, "during_support": during})
            if row is None:
                return lifecycle.Refused("duplicate_incident",
                                         f"{cleaned} is already linked to {release.ref}; nothing changed.")
            linked.append(IncidentRecord.from_row(row))
            return Stayed(Event(EventKind.INCIDENT_LINKED, user, now, {
                "ref": cleaned, "summary": text, "url": link, "during_support": during}))

        outcome = await self.transitions.run(release_id, decide)
        if outcome.refusal:
            return Outcome.of(outcome.refusal)
        return Outcome.success(linked[0], created=True)

    async def for_release(self, release_id: int) -> list[IncidentRecord]:
        async with self.uow(read_only=True) as uow:
            return [IncidentRecord.from_row(r) for r in await uow.incidents.for_release(release_id)]


def support_ended_key(release_id: int) -> str:
    return f"REL-{release_id}:support-ended"


class SupportWatch:
    """Ends the early life support of released releases whose support ran out: one event on
    the release (the card follows) and one direct message to its owner."""

    def __init__(self, uow: UnitOfWorkFactory, versions: ModelVersions, transitions: Transitions, clock: Clock):
        self.uow = uow
        self.versions = versions
        self.transitions = transitions
        self.clock = clock

    async def tick(self) -> int:
        """Look for support that ran out; returns how many ended now (by this replica)."""
        now = self.clock()
        due = [release_id for release_id, until in await self._support_ends() if now >= until]
        ended = 0
        for release_id in due:
            if await self._end(release_id):
                ended += 1
        return ended

    async def next_due(self, after: datetime) -> datetime | None:
        """The first moment after `after` a release's early life support runs out."""
        return min((until for _, until in await self._support_ends() if until > after), default=None)

    async def _support_ends(self) -> list[tuple[int, datetime]]:
        """Each release still in early life support, and when its support runs out; only the
        releases of model versions that give support are read (see `tick`)."""
        ends: list[tuple[int, datetime]] = []
        async with self.uow(read_only=True) as uow:
            versions = await self.versions.with_early_life_support(uow)
            if not versions:
                return ends
            for release_id, released_at in await uow.model_review.in_support(EventKind.SUPPORT_ENDED.value, versions):
                row = await uow.releases.get(release_id)
                if row is None:
                    continue
                model = await self.versions.for_release(ReleaseRecord.from_row(row), uow)
                until = lifecycle.support_until(released_at, model.early_life_support if model else None)
                if until is not None:
                    ends.append((release_id, until))
        return ends

    async def _end(self, release_id: int) -> bool:
        done: list[bool] = []

        async def decide(uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> lifecycle.Decision | None:
            until = await support_end(uow, self.versions, release)
            if until is None or release.state is not lifecycle.State.RELEASED or now < until:
                return None
            queued = await Message.post(
                channel=release.owner, rendered=support_ended_message(release, until),
                dedupe_key=support_ended_key(release.id), release_id=release.id,
            ).enqueue(uow, now)
            if not queued:  # another replica (or an earlier run) ended it
                return None
            done.append(True)
            return Stayed(Event(EventKind.SUPPORT_ENDED, None, now, {"until": until.isoformat()}))

        outcome = await self.transitions.run(release_id, decide)
        if outcome.refusal:
            log.warning("early life support of REL-%s: %s", release_id, outcome.refusal)
        return bool(done) and outcome.ok
