"""What a transaction changed, told to those who wait for a change once it is committed.

A pipeline holding the gate of REL-7 (`?wait=60`) waits for REL-7 to change; the outbox
dispatcher and the due jobs wait for queued messages. Waking every held gate request on
every commit made each of them read its release again after every commit anywhere: with 50
pipelines, the re-reads took more of the process than the requests (bench/api.py). So the
repositories note the releases whose record a transaction changes in a way a held gate's
answer depends on (state, plan, approvals, verifications; not its events, such as a message
sent), and a change that is not one release's (a freeze) as `None`: everyone looks again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

_KEY = "releasebot_changed_releases"


def note(session: AsyncSession, release_id: int | None) -> None:
    """This transaction changes release `release_id` (None: something every release may depend on)."""
    session.info.setdefault(_KEY, set()).add(release_id)


@dataclass(frozen=True)
class Committed:
    """What one commit changed."""

    #: Outbox rows it queued.
    enqueued: int
    #: Releases whose record it changed.
    releases: frozenset[int]
    #: It changed something every release may depend on (a freeze).
    everything: bool = False

    @property
    def anything(self) -> bool:
        return bool(self.enqueued or self.releases or self.everything)


def taken(session: AsyncSession, enqueued: int) -> Committed:
    """What the transaction of `session` noted, forgotten there (read it before committing)."""
    noted: set[int | None] = session.info.pop(_KEY, set())
    return Committed(enqueued, frozenset(r for r in noted if r is not None), None in noted)
