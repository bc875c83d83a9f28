"""Metrics, App Home, list and show at 100,000 releases and 2,000,000 events; the serving
process's memory with that database. A benchmark suite of `python -m bench`.

    .venv/bin/python -m bench --only metrics_scale [--database postgresql://…/scratch]

The history is seeded once by bench/seed_and_time.py (bulk inserts, a few minutes) and
reused: without `--database`, in a SQLite file kept in the temporary directory
(`releasebot-bench/metrics-100000.db`; delete it to seed again); with one, in that scratch
database (seeded only if it holds no release). Timings go through the service layer, as a
command handler calls it, each the median of REPEAT runs after a warm-up, against the
issue's bounds: `/release metrics` for any period up to 365 days and any model ≤ 300 ms,
the App Home ≤ 150 ms.

Memory: the real `releasebot serve` is started on the seeded database (the fake Slack of
the tests as Slack), 50 clients send it signed `/release metrics|list|show` commands and
`app_home_opened` events until every answer has reached the fake Slack, and its peak
resident set (VmHWM of /proc/<pid>/status) is read against the 200 MB bound. Serving may
open the post-release surveys the seeded history leaves due, as a real start would.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import func, select

from bench.figures import Figure
from bench.seed_and_time import BUSY_OWNER, MODEL_WEIGHTS, prepare, services
from storage.tables import ReleaseRow
from tests.fake_slack import FakeSlack
from tests.workspace import sign

RELEASES = 100_000
EVENTS = 2_000_000
REPEAT = 5
METRICS_BOUND_MS = 300.0
HOME_BOUND_MS = 150.0
RSS_BOUND_MB = 200.0
CLIENTS = 50
ROUNDS = 4  # requests per client, cycling through REQUESTS
SECRET = "bench-signing-secret"
ROOT = Path(__file__).resolve().parents[1]


def default_url() -> str:
    folder = Path(tempfile.gettempdir()) / "releasebot-bench"
    folder.mkdir(exist_ok=True)
    return f"sqlite+aiosqlite:///{folder / f'metrics-{RELEASES}.db'}"


async def median_ms(run: Callable[[], Awaitable[Any]], repeat: int = REPEAT) -> tuple[float, float]:
    """Median and max of `repeat` timed runs after one to warm the caches, in ms."""
    await run()
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took), max(took)


async def figures(database_url: str | None) -> list[Figure]:
    url = database_url or default_url()
    engine = await prepare(url, RELEASES, EVENTS, datetime.now(UTC).replace(microsecond=0))
    try:
        async with engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(ReleaseRow))).scalar_one()
            some = (await conn.execute(select(func.max(ReleaseRow.id)))).scalar_one() // 2
        metrics, home, releases = services(engine)
        where = f"{engine.dialect.name}, {count:,} releases"
        timed: list[tuple[str, Callable[[], Awaitable[Any]], float | None]] = [
            ("metrics 30d, all models", lambda: metrics.key_metrics(30, by_risk=True), METRICS_BOUND_MS),
            *((f"metrics 90d, {model}", (lambda m=model: metrics.key_metrics(90, m, by_risk=True)), METRICS_BOUND_MS)
              for model in MODEL_WEIGHTS),
            ("metrics 365d, all models", lambda: metrics.key_metrics(365, by_risk=True), METRICS_BOUND_MS),
            ("metrics 365d, standard", lambda: metrics.key_metrics(365, "standard", by_risk=True), METRICS_BOUND_MS),
            ("App Home (approver, owner of 200)", lambda: home.for_user(BUSY_OWNER), HOME_BOUND_MS),
            ("list (newest 20)", lambda: releases.list(), None),
            ("list mine (owner of 200)", lambda: releases.list(owner=BUSY_OWNER), None),
            (f"show REL-{some}", lambda: releases.show(some), None),
        ]
        result = []
        for name, run, bound in timed:
            median, worst = await median_ms(run)
            result.append(Figure(name, median, "ms", bound=bound, detail=f"{where}, max {worst:,.1f} ms"))
    finally:
        await engine.dispose()
    peak, now, served, took = await serving_memory(url, some)
    result.append(Figure("serving process peak RSS (VmHWM)", peak, "MB", bound=RSS_BOUND_MB,
                         detail=f"{served} requests from {CLIENTS} clients in {took:.1f} s; "
                                f"RSS {now:.0f} MB after"))
    return result


# -- memory of the serving process ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_env(url: str, api_url: str, secret: str, **more: str) -> dict[str, str]:
    """The environment of a `releasebot serve` under a bench: this one's, without its own Slack,
    database and releasebot settings, and the bench's in their place."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "RELEASEBOT_"))},
            "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": secret,
            "SLACK_API_URL": api_url, "DATABASE_URL": url, **more}


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def serving_memory(url: str, some: int) -> tuple[float, float, int, float]:
    """Serve the seeded database with `releasebot serve` under load: (peak RSS MB, RSS MB at
    the end, requests answered, seconds the load took)."""
    slack = FakeSlack()
    await slack.start()
    port = _free_port()
    env = serve_env(url, slack.api_url, SECRET)
    log = tempfile.TemporaryFile()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handlers.cli", "serve", "--port", str(port), env=env, cwd=ROOT,
        stdout=log, stderr=log)
    try:
        await _until_listening(port, process)
        started = time.monotonic()
        async with aiohttp.ClientSession() as client:
            sent = await asyncio.gather(*(_client(client, port, slack, n, some) for n in range(CLIENTS)))
        commands = sum(c for c, _ in sent)
        # Answers leave after the ack: wait for them all (or for them to stop coming).
        answered, quiet_since = 0, time.monotonic()
        while len(slack.responses()) < commands and time.monotonic() - quiet_since < 10:
            await asyncio.sleep(0.1)
            if len(slack.responses()) > answered:
                answered, quiet_since = len(slack.responses()), time.monotonic()
        took = time.monotonic() - started
        peak, now = _status_mb(process.pid, "VmHWM"), _status_mb(process.pid, "VmRSS")
        return peak, now, len(slack.responses()) + sum(e for _, e in sent), took
    finally:
        process.terminate()
        await process.wait()
        log.close()
        await slack.close()


async def _until_listening(port: int, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"releasebot serve exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.2)
    raise RuntimeError("releasebot serve did not listen within 120 s")


async def _client(client: aiohttp.ClientSession, port: int, slack: FakeSlack, n: int, some: int) -> tuple[int, int]:
    """One person: ROUNDS requests through the mix; (commands sent, events sent)."""
    texts = ["metrics 365d", "metrics 90d standard", "list", f"show REL-{some - n}", "metrics"]
    commands = events = 0
    for r in range(ROUNDS):
        user = f"U{n:07d}"
        if (n + r) % 3 == 2:
            body = json.dumps({"type": "event_callback", "team_id": "T111", "api_app_id": "A111",
                               "event_id": f"Ev{n}x{r}", "event_time": int(time.time()),
                               "event": {"type": "app_home_opened", "user": BUSY_OWNER if n % 2 else user,
                                         "tab": "home", "channel": "D0BENCH"}})
            kind = "application/json"
            events += 1
        else:
            body = urlencode({
                "token": "t", "team_id": "T111", "team_domain": "bench", "channel_id": "C0BENCH",
                "channel_name": "releases", "user_id": user, "user_name": user.lower(), "command": "/release",
                "text": texts[(n + r) % len(texts)], "api_app_id": "A111",
                "response_url": slack.response_url(f"b{n}x{r}"), "trigger_id": f"{n}.{r}.trigger"})
            kind = "application/x-www-form-urlencoded"
            commands += 1
        stamp = int(time.time())
        async with client.post(f"http://127.0.0.1:{port}/slack/events", data=body.encode(), headers={
                "Content-Type": kind, "X-Slack-Request-Timestamp": str(stamp),
                "X-Slack-Signature": sign(body, stamp, SECRET)}) as response:
            await response.read()
    return commands, events
