"""Read commands share one reading among the people who asked before it began
(bot/shared_reads.py), and never hand anyone an answer older than their question."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.shared_reads import SharedReads
from handlers.app import Releasebot
from handlers.slack import after_ack
from tests.conftest import ALICE, BOB
from tests.fake_slack import FakeSlack
from tests.seed import add_release
from tests.workspace import Workspace


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_reading_answers_those_who_asked_before_it_began_and_no_one_after() -> None:
    clock = Clock()
    reads = SharedReads(clock)
    readings = 0
    release = asyncio.Event()

    async def read() -> object:
        nonlocal readings
        readings += 1
        await release.wait()
        return object()  # each reading's answer is its own

    early = [reads.now() for _ in range(3)]  # three people ask at 0
    clock.now = 1.0  # the first reading begins at 1, while the others still wait their turn
    first = asyncio.create_task(reads.read("q", early[0], read))
    await asyncio.sleep(0)
    others = [asyncio.create_task(reads.read("q", asked, read)) for asked in early[1:]]
    clock.now = 2.0  # someone asks after it began: a reading of their own
    late = asyncio.create_task(reads.read("q", reads.now(), read))
    other_question = asyncio.create_task(reads.read("other", early[0], read))
    await asyncio.sleep(0)
    release.set()
    shared = await first
    assert [await o for o in others] == [shared, shared]
    assert await late is not shared and await other_question not in (shared, await late)
    assert readings == 3  # "q" at 1 and at 2, "other" at 2
    again = await reads.read("q", 2.0, read)  # asked when the latest began: its answer, no reading
    assert again is await late and readings == 3


async def test_a_failed_reading_fails_those_who_took_it_and_the_next_question_reads_again() -> None:
    clock = Clock()
    reads = SharedReads(clock)
    calls = 0

    async def read() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        if calls == 1:
            raise RuntimeError("database went away")
        return "figures"

    results = await asyncio.gather(reads.read("q", 0.0, read), reads.read("q", 0.0, read), return_exceptions=True)
    assert [type(r) for r in results] == [RuntimeError, RuntimeError] and calls == 1
    clock.now = 1.0
    assert await reads.read("q", 0.5, read) == "figures" and calls == 2


async def test_one_waiter_cancelled_leaves_the_others_their_answer() -> None:
    reads = SharedReads(Clock())
    release = asyncio.Event()

    async def read() -> str:
        await release.wait()
        return "figures"

    gone = asyncio.create_task(reads.read("q", 0.0, read))
    stays = asyncio.create_task(reads.read("q", 0.0, read))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    assert await stays == "figures"


async def test_only_the_latest_questions_are_kept() -> None:
    reads = SharedReads(Clock())

    async def read() -> int:
        return 1

    for n in range(SharedReads.KEEP + 10):
        await reads.read(n, 0.0, read)
    assert len(reads._latest) == SharedReads.KEEP


async def test_people_asking_together_share_a_reading_through_slack(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight `/release list` at once, each reading held until all eight were acked: at most
    three readings (the two slots' first, and one for all who waited), eight answers."""
    monkeypatch.setattr(after_ack, "LIMIT", 2)
    original, acked, readings = bot.services.releases.list, asyncio.Event(), 0

    async def held_list(*args: Any, **kw: Any) -> Any:
        nonlocal readings
        readings += 1
        await acked.wait()
        return await original(*args, **kw)

    monkeypatch.setattr(bot.services.releases, "list", held_list)
    seen = len(slack.responses())
    answers = await asyncio.gather(*(workspace.command("list", by=ALICE) for _ in range(8)))
    acked.set()
    assert [a.status for a in answers] == [200] * 8
    await slack.wait_for(lambda: len(slack.responses()) >= seen + 8, timeout=30)
    assert all("Releases" in r.all_text() for r in slack.responses()[seen:])
    assert 1 <= readings <= 3


async def test_a_question_asked_after_a_reading_began_is_not_given_its_older_answer(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reading is slow to answer; a release is planned meanwhile; whoever asks after that
    sees the release, though the slow reading (begun before) did not."""
    original, reading_done, may_answer = bot.services.releases.list, asyncio.Event(), asyncio.Event()
    first = True

    async def slow_to_answer(*args: Any, **kw: Any) -> Any:
        nonlocal first
        result = await original(*args, **kw)
        if first:
            first = False
            reading_done.set()
            await may_answer.wait()
        return result

    monkeypatch.setattr(bot.services.releases, "list", slow_to_answer)
    seen = len(slack.responses())
    await workspace.command("list", by=ALICE)
    await asyncio.wait_for(reading_done.wait(), 10)
    async with bot.services.releases.uow() as uow:
        await add_release(uow, id=4242, model="quick", state="planned", owner=BOB, created=datetime.now(UTC),
                          title="Planned meanwhile")
        await uow.commit()
    await workspace.command("list", by=BOB)
    later = await slack.next_response(seen)  # the first is still held
    may_answer.set()
    earlier = await slack.next_response(seen + 1)
    assert "REL-4242" in later.all_text()
    assert "REL-4242" not in earlier.all_text()
