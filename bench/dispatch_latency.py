"""How close to its due time does a scheduled message leave? A benchmark, not a test.

Runs the real bot (scheduler, dispatcher, outbox) against the fake Slack Web API of the test
suite, queues messages due over the next few seconds in distinct conversations, and reports
how late each reached Slack: arrival at the fake server minus `due_at`.

    .venv/bin/python bench/dispatch_latency.py [--messages 60] [--spread 10] [--database URL]

With no `--database`, a temporary SQLite file is used; pass the URL of a scratch PostgreSQL
database (`postgresql+asyncpg://…`; whatever is pending in it gets sent to the fake) to
measure there. Exits non-zero if a message left early, twice, or more than 1.5 s late.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.catalog import Catalog  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.outbox import Message  # noqa: E402
from bot.rendering.messages import Rendered  # noqa: E402
from handlers.app import build  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "tests" / "release_models"


async def main(messages: int, spread: float, database: str | None) -> int:
    slack = FakeSlack()
    await slack.start()
    with tempfile.TemporaryDirectory() as tmp:
        url = database or f"sqlite+aiosqlite:///{tmp}/bench.db"
        settings = Settings.model_validate({
            "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "bench", "SLACK_API_URL": slack.api_url,
            "DATABASE_URL": url, "RELEASEBOT_MODELS": str(MODELS),
        })
        bot = build(settings, Catalog.load(MODELS))
        await bot.start()
        try:
            now = datetime.now(UTC)
            run = uuid.uuid4().hex[:8]  # dedupe keys are unique forever: a new set per run
            due = {f"bench-{run}-{n}": now + timedelta(seconds=1 + random.random() * spread) for n in range(messages)}
            async with bot.services.releases.uow() as uow:
                for n, (key, at) in enumerate(due.items()):
                    await Message.post(channel=f"CBENCH{n}", rendered=Rendered(key, []), dedupe_key=key,
                                       due_at=at).enqueue(uow, now)
                await uow.commit()
            # The fake records time.monotonic(); relate it to the wall clock once.
            wall_minus_mono = time.time() - time.monotonic()
            await slack.wait_for(lambda: sum(c.text in due for c in slack.posts()) >= messages,
                                 timeout=spread + 30)
        finally:
            await bot.stop()
            await slack.close()
    ours = [call for call in slack.posts() if call.text in due]
    late = sorted((call.at + wall_minus_mono) - due[call.text].timestamp() for call in ours)
    early = [x for x in late if x < 0]
    twice = len(ours) - len({call.text for call in ours})
    print(f"{messages} messages due over {spread:.0f}s on {url.split(':')[0]}")
    print(f"  late by: p50 {statistics.median(late) * 1000:.0f} ms, "
          f"p95 {late[int(len(late) * 0.95) - 1] * 1000:.0f} ms, max {late[-1] * 1000:.0f} ms")
    print(f"  sent before due: {len(early)}  sent twice: {twice}")
    return 0 if not early and not twice and late[-1] < 1.5 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=60)
    parser.add_argument("--spread", type=float, default=10.0, help="seconds over which messages come due")
    parser.add_argument("--database", help="SQLAlchemy async URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.messages, args.spread, args.database)))
