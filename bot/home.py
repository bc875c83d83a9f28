"""A person's App Home: the key metrics, their releases, and what waits for their decision.

Slack-free. Who approves which release model is resolved through the Directory (user
groups) before the transaction, as approvals do, so no Slack call holds a database lock.
Lists are capped in the query, not after loading: a person with hundreds of releases costs
the same as one with fifteen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.catalog import Catalog, ReleaseModel
from bot.freezes import Freeze, FreezeService
from bot.lifecycle import State
from bot.metrics import DEFAULT_DAYS, KeyMetrics, MetricsService
from bot.records import ReleaseRecord
from bot.roles import Roles
from storage.uow import UnitOfWorkFactory

#: How many releases each list shows; the rest are counted ("…and N more").
MINE_SHOWN = 15
AWAITING_SHOWN = 10
HOME_FREEZES = 5


@dataclass(frozen=True)
class Home:
    user: str
    at: datetime
    metrics: KeyMetrics
    mine: list[ReleaseRecord]
    mine_total: int
    awaiting: list[ReleaseRecord]
    awaiting_total: int
    #: Freezes in force now or coming (the change schedule beside the releases).
    freezes: list[Freeze] = field(default_factory=list)


class HomeService:
    def __init__(self, uow: UnitOfWorkFactory, catalog: Catalog, roles: Roles, metrics: MetricsService,
                 freezes: FreezeService | None = None):
        self.freezes = freezes
        self.uow = uow
        self.catalog = catalog
        self.roles = roles
        self.metrics = metrics

    async def approver_of(self, user: str) -> list[ReleaseModel]:
        """The release models whose approvers include `user`, directly or through a user group."""
        return [model for model in self.catalog if user in await self.roles.approvers(model)]

    async def for_user(self, user: str) -> Home:
        models = await self.approver_of(user)
        keys = {m.key for m in models}
        # Without self-approval a person cannot decide their own release: it does not wait for them.
        own_allowed = {m.key for m in models if m.approval.self_approval}
        metrics = await self.metrics.key_metrics(DEFAULT_DAYS)
        async with self.uow(read_only=True) as uow:
            mine, mine_total = await uow.releases.newest(owner=user, limit=MINE_SHOWN)
            awaiting, awaiting_total = await uow.home.awaiting_decision(
                user, State.AWAITING_APPROVAL.value, keys, own_allowed, AWAITING_SHOWN)
        freezes = await self.freezes.current_and_coming() if self.freezes else []
        return Home(
            user=user, at=metrics.until, metrics=metrics, freezes=freezes[:HOME_FREEZES],
            mine=[ReleaseRecord.from_row(r) for r in mine], mine_total=mine_total,
            awaiting=[ReleaseRecord.from_row(r) for r in awaiting], awaiting_total=awaiting_total,
        )
