"""The pipeline API under load: the gate and create at 50 concurrent pipelines (issue 11).

Runs the real bot (the aiohttp app on loopback, the outbox dispatcher posting to the fake
Slack of the test suite) and 50 pipelines, each with its own token, as concurrent HTTP
clients. Every pipeline creates releases one after another (each with an Idempotency-Key, as
docs/pipelines.md does), submits one of a pre-authorized model (so it is ready, and the gate
looks up freezes); when all have, the 50 poll their gates at once. The figures are the latencies seen by the clients,
p99 against the issue's bound of 50 ms, with p50 beside them.

    .venv/bin/python -m bench --only api [--database postgresql+asyncpg://…/scratch]

SQLite takes one writer at a time (every transaction begins IMMEDIATE), so 50 pipelines
creating at once queue behind each other: the create figure there measures that queue.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from bench.figures import Figure
from bot.catalog import Catalog
from bot.config import Settings
from handlers.app import build
from tests.fake_slack import FakeSlack

MODELS = Path(__file__).resolve().parents[1] / "tests" / "pipeline_models"
PIPELINES = 50
CREATES = 6      # releases each pipeline creates
GATES = 20       # gate requests each pipeline makes
BOUND_MS = 50.0


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _body(n: int, service: str, run: int) -> bytes:
    # Windows of their own and components of their own: no release clashes with another, as
    # pipelines of different services mostly do not (a clash adds a notice to the work).
    start = (datetime.now(UTC) + timedelta(days=1 + run % 300, hours=2 * n)).replace(microsecond=0)
    return json.dumps({"title": f"Bench release {n}", "planned_start": start.isoformat(),
                       "planned_end": (start + timedelta(hours=1)).isoformat(), "owner": "UALICE",
                       "components": [f"{service}-{n}"], "service": service, "environment": "prod"}).encode()


async def _pipeline(session: aiohttp.ClientSession, base: str, secret: str, index: int, run: int,
                    creates: list[float], gates: list[float], start: asyncio.Event, polling: asyncio.Event,
                    planned: list[int]) -> None:
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    await start.wait()
    refs: list[str] = []
    for n in range(CREATES):
        service = "docs-site" if n == 0 else "payments-api"
        began = time.perf_counter()
        async with session.post(f"{base}/api/v1/releases", data=_body(index * 100 + n, service, run),
                                headers={**headers, "Idempotency-Key": uuid.uuid4().hex}) as response:
            answer = await response.json()
        creates.append((time.perf_counter() - began) * 1000)
        assert response.status == 201, answer
        refs.append(answer["id"])
    async with session.post(f"{base}/api/v1/releases/{refs[0]}/submit", headers=headers) as response:
        assert response.status == 200, await response.text()
    planned.append(index)
    if len(planned) == PIPELINES:
        polling.set()
    await polling.wait()  # every pipeline has planned: now the 50 poll their gates at once
    for n in range(GATES):
        ref = refs[n % len(refs)]
        began = time.perf_counter()
        async with session.get(f"{base}/api/v1/releases/{ref}/gate", headers=headers) as response:
            await response.json()
        gates.append((time.perf_counter() - began) * 1000)
        assert response.status == 200


async def figures(database_url: str | None) -> list[Figure]:
    slack = FakeSlack()
    await slack.start()
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{tmp}/bench-api.db"
        settings = Settings.model_validate({
            "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "bench", "SLACK_API_URL": slack.api_url,
            "DATABASE_URL": url, "RELEASEBOT_MODELS": str(MODELS),
        })
        bot = build(settings, Catalog.load(MODELS))
        server = TestServer(bot.web_app(), host="127.0.0.1")
        await server.start_server()
        creates: list[float] = []
        gates: list[float] = []
        try:
            assert bot.api is not None
            run = uuid.uuid4().hex[:6]
            day = int(run, 16)  # a scratch database reused: each run plans on days of its own
            secrets = [(await bot.api.tokens.create(f"bench-{run}-{n}")).unwrap().secret for n in range(PIPELINES)]
            base = str(server.make_url("")).rstrip("/")
            start, polling = asyncio.Event(), asyncio.Event()
            planned: list[int] = []
            connector = aiohttp.TCPConnector(limit=PIPELINES * 2)
            async with aiohttp.ClientSession(connector=connector) as session:
                jobs = [asyncio.create_task(_pipeline(session, base, secret, n, day, creates, gates, start,
                                                      polling, planned)) for n, secret in enumerate(secrets)]
                start.set()
                await asyncio.gather(*jobs)
        finally:
            await server.close()
            await slack.close()
    where = url.split(":")[0].split("+")[0]
    detail = f"{where}, {PIPELINES} concurrent pipelines"
    return [
        Figure(f"create p99 ({where})", _p(creates, 0.99), "ms", BOUND_MS,
               detail=f"{detail}, {len(creates)} creates, p50 {statistics.median(creates):.1f} ms"),
        Figure(f"gate p99 ({where})", _p(gates, 0.99), "ms", BOUND_MS,
               detail=f"{detail}, {len(gates)} gate requests, p50 {statistics.median(gates):.1f} ms"),
    ]
