"""A read-only unit of work reads one snapshot on either database: what commits while it reads
is not half in its answer (the gate reads a release, then its approvals)."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.uow import UnitOfWorkFactory


async def test_a_read_only_unit_of_work_does_not_see_what_commits_while_it_reads(uow: UnitOfWorkFactory) -> None:
    now = datetime.now(UTC)
    async with uow() as unit:
        release, _ = await unit.releases.add({
            "model_key": "standard", "title": "Payments 2.4", "state": "awaiting_approval", "owner": "UOWEN",
            "channel_id": "CREL", "planned_start": now, "planned_end": now, "created_at": now, "updated_at": now})
        await unit.commit()
    async with uow(read_only=True) as reading:
        assert (await reading.releases.get(release.id)) is not None  # its snapshot is taken here
        async with uow() as approving:
            assert await approving.approvals.add(release.id, "UCAB", "approve", now)
            await approving.commit()
        assert await reading.approvals.for_release(release.id) == []
    async with uow(read_only=True) as after:
        assert [a.approver for a in await after.approvals.for_release(release.id)] == ["UCAB"]
