"""Acknowledgements when the workspace is busy: `/release help|list|show|schedule|metrics` from
50 concurrent clients, beside a bare Bolt app in the same run. A suite of `python -m bench`.

    .venv/bin/python -m bench --only acks [--database postgresql://…/scratch]

Two processes on loopback, started here: `releasebot serve` on the seeded database (the
tests' fake Slack, in this process, as Slack) and bench/bare_bolt.py, a bare AsyncApp with
the same signing secret and one command it acks at once. For each read command:

- a flood: the bare app, then releasebot, get CLIENTS clients each sending ROUNDS signed,
  form-encoded slash commands one after the other, the next as soon as the previous was
  acked (not waiting for its answer, so the work after the acks piles up behind them), REPEAT
  times in turn: releasebot's ack p99 as a ratio to the bare app's (bound 1.5×); how long the
  piled-up answers took is shown beside it (no bound: the pile grows with ROUNDS);
- people: CLIENTS clients each typing the command PEOPLE_ROUNDS times, the next once the
  answer to the last arrived: the ack p99, against the bare app's under the same load (its
  `/answer` acks and answers at once, so its clients, too, type in step once their answers
  come together), and the time from sending a command to its answer reaching the fake Slack
  (the response_url post), p99, against 2 s.

Then the serving process's peak resident set (VmHWM) over all of it, against 200 MB.

The database is the 100,000-release history of bench/metrics_scale.py (seeded once by
bench/seed_and_time.py, then reused); `ACKS_RELEASES=2000` seeds a small one instead, and
`ACKS_COMMANDS=help,list` measures only those.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import func, select
from sqlalchemy import text as sql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.cores import Pinning, split
from bench.figures import Figure
from bench.metrics_scale import (
    EVENTS,
    RELEASES,
    RSS_BOUND_MB,
    _free_port,
    _status_mb,
    _until_listening,
    serve_env,
)
from bench.seed_and_time import prepare
from storage.tables import ReleaseRow
from tests.fake_slack import FakeSlack
from tests.workspace import sign

CLIENTS = 50
ROUNDS = 8
REPEAT = 3
PEOPLE_ROUNDS = 5
RATIO_BOUND = 1.5
ANSWER_BOUND_MS = 2000.0
SECRET = "bench-signing-secret"
ROOT = Path(__file__).resolve().parents[1]


class Arrivals:
    """When each response_url post reached the fake Slack, by its hook id (no scanning)."""

    def __init__(self, slack: FakeSlack) -> None:
        self.at: dict[str, float] = {}
        self._waiting: dict[str, asyncio.Event] = {}
        record = slack._record

        def recorded(call: Any) -> None:
            record(call)
            if call.method == "response_url" and call.ok:
                hook = str(call.params.get("n"))
                self.at.setdefault(hook, call.at)
                if hook in self._waiting:
                    self._waiting.pop(hook).set()

        slack._record = recorded  # type: ignore[method-assign]

    async def wait(self, hook: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        if hook in self.at:
            return
        event = self._waiting.setdefault(hook, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass


@dataclass
class Load:
    """What one run of CLIENTS × ROUNDS commands saw: ack latencies, and when each was sent."""

    acks_ms: list[float] = field(default_factory=list)
    sent_at: dict[str, float] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    took: float = 0.0
    #: The longest the clients' own event loop was late (a stall of the measuring process adds
    #: to every ack in flight; bench/cores.py keeps it small).
    stall_ms: float = 0.0

    def add(self, other: Load) -> None:
        self.acks_ms += other.acks_ms
        self.sent_at.update(other.sent_at)
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.took += other.took
        self.stall_ms = max(self.stall_ms, other.stall_ms)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1 else values[0]


def database(database_url: str | None) -> tuple[str, int, int]:
    small = int(os.environ.get("ACKS_RELEASES", "0"))
    if database_url:
        return database_url, RELEASES, EVENTS
    folder = Path(tempfile.gettempdir()) / "releasebot-bench"
    folder.mkdir(exist_ok=True)
    if small:
        return f"sqlite+aiosqlite:///{folder / f'acks-{small}.db'}", small, small * 8
    return f"sqlite+aiosqlite:///{folder / f'metrics-{RELEASES}.db'}", RELEASES, EVENTS


async def figures(database_url: str | None) -> list[Figure]:
    url, releases, events = database(database_url)
    engine = await prepare(url, releases, events, datetime.now(UTC).replace(microsecond=0))
    async with engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(ReleaseRow))).scalar_one()
        some = (await conn.execute(select(func.max(ReleaseRow.id)))).scalar_one() // 2
        data = await _local_postgres_data(conn) if engine.dialect.name == "postgresql" else None
    dialect = engine.dialect.name
    await engine.dispose()
    with split(data) as pinning:
        return await _measure(url, dialect, count, some, pinning)


async def _local_postgres_data(conn: AsyncConnection) -> Path | None:
    """The data directory of a PostgreSQL on this machine (to pin its processes), else None."""
    if conn.engine.url.host not in ("127.0.0.1", "localhost", "::1", None):
        return None
    try:
        folder = Path((await conn.execute(sql("SHOW data_directory"))).scalar_one())
    except DBAPIError:  # a role without the right to read it: PostgreSQL is left unpinned
        return None
    return folder if (folder / "postmaster.pid").exists() else None


async def _measure(url: str, dialect: str, count: int, some: int, pinning: Pinning) -> list[Figure]:
    slack = FakeSlack()
    await slack.start()
    bot_port, bare_port = _free_port(), _free_port()
    env = serve_env(url, slack.api_url, SECRET)
    log = tempfile.TemporaryFile()
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handlers.cli", "serve", "--port", str(bot_port), env=env, cwd=ROOT,
        stdout=log, stderr=log, preexec_fn=pinning.for_server())
    bare = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.bare_bolt", str(bare_port), SECRET, slack.api_url, env=env, cwd=ROOT,
        stdout=log, stderr=log, preexec_fn=pinning.for_server())
    result: list[Figure] = []
    where = f"{dialect}, {count:,} releases, {CLIENTS} clients × {ROUNDS} × {REPEAT}; {pinning.note}"
    try:
        await _until_listening(bot_port, bot)
        await _until_listening(bare_port, bare)
        connector = aiohttp.TCPConnector(limit=CLIENTS * 2)
        async with aiohttp.ClientSession(connector=connector) as client:
            arrivals = Arrivals(slack)
            await _load(client, bare_port, slack, "help", 2)  # warm both up
            await _load(client, bot_port, slack, "help", 2)
            wanted = os.environ.get("ACKS_COMMANDS", "help,list,show,schedule,metrics").split(",")
            for text in (t for t in ("help", "list", f"show REL-{some}", "schedule", "metrics")
                         if t.split()[0] in wanted):
                result += await _command(client, bare_port, bot_port, slack, arrivals, text, where,
                                         Paused(bot) if pinning.servers else None)
        peak, now = _status_mb(bot.pid, "VmHWM"), _status_mb(bot.pid, "VmRSS")
        result.append(Figure("releasebot serve peak RSS (VmHWM) under this load", peak, "MB", bound=RSS_BOUND_MB,
                             detail=f"{where}; RSS {now:.0f} MB at the end"))
    finally:
        for process in (bot, bare):
            process.terminate()
            await process.wait()
        log.close()
        await slack.close()
    return result


class Paused:
    """releasebot stopped (SIGSTOP) while the bare app is measured: pinned, both share the
    servers' core(s), and releasebot's own timers (reminder runs over 100,000 releases) would
    otherwise take the bare app's CPU and flatter the ratio."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    def __enter__(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def __exit__(self, *_: object) -> None:
        self.process.send_signal(signal.SIGCONT)


async def _command(client: aiohttp.ClientSession, bare_port: int, bot_port: int, slack: FakeSlack,
                   arrivals: Arrivals, text: str, where: str, paused: Paused | None = None) -> list[Figure]:
    """The flood and the people loads of one command, with the bare app's flood as the baseline."""
    name = text.split()[0]
    answered = name != "help"  # help is answered in the ack itself
    baseline, flood, drained = Load(), Load(), []
    for _ in range(REPEAT):  # interleaved, so that a busy moment of the machine hits both alike
        with paused or nullcontext():
            baseline.add(await _load(client, bare_port, slack, text, ROUNDS))
        flooded = await _load(client, bot_port, slack, text, ROUNDS)
        flood.add(flooded)
        drained += await _answers(arrivals, flooded) if answered else []
    rates = (f"{len(flood.acks_ms) / flood.took:,.0f} against {len(baseline.acks_ms) / baseline.took:,.0f} acks/s")
    rates += f"; the clients stalled at most {baseline.stall_ms:.0f} / {flood.stall_ms:.0f} ms"
    bad = {s: n for s, n in flood.statuses.items() if s != 200}
    if drained:
        last = max(drained) / 1000
        rates += (f"; all {len(flood.sent_at)} answered, the slowest {last:.1f} s after its command"
                  if len(drained) == len(flood.sent_at)
                  else f"; {len(flood.sent_at) - len(drained)} of {len(flood.sent_at)} never answered")
    figures = [Figure(f"/release {name}: ack p99, flood", p99(flood.acks_ms), "ms", bound=RATIO_BOUND,
                      baseline=p99(baseline.acks_ms), ratio_bound=True,
                      detail=f"{where}; {rates}" + (f"; non-200: {bad}" if bad else ""))]
    if not answered:
        return figures
    # The bare app answering at once is the people's baseline: clients that all get their
    # answers together type their next command together, a burst the flood never makes.
    with paused or nullcontext():
        bare_people = await _load(client, bare_port, slack, text, PEOPLE_ROUNDS, arrivals, command="/answer")
    bare_answers = await _answers(arrivals, bare_people)
    people = await _load(client, bot_port, slack, text, PEOPLE_ROUNDS, arrivals)
    answers = await _answers(arrivals, people)
    missing = len(people.sent_at) - len(answers)
    figures.append(Figure(f"/release {name}: ack p99, people", p99(people.acks_ms), "ms", bound=RATIO_BOUND,
                          baseline=p99(bare_people.acks_ms), ratio_bound=True,
                          detail=f"{CLIENTS} clients × {PEOPLE_ROUNDS}, each waiting for its answer; "
                                 f"the baseline is the bare app answering at once"))
    figures.append(Figure(f"/release {name}: time until the answer p99, people", p99(answers), "ms",
                          bound=ANSWER_BOUND_MS, detail=f"median {statistics.median(answers):,.0f} ms; the bare "
                          f"app answering at once: p99 {p99(bare_answers):,.0f} ms"
                          + (f"; {missing} never answered" if missing else "")))
    return figures


async def _load(client: aiohttp.ClientSession, port: int, slack: FakeSlack, text: str, rounds: int,
                arrivals: Arrivals | None = None, command: str = "/release") -> Load:
    """CLIENTS clients typing `/release TEXT` `rounds` times each: the next as soon as the last
    was acked, or (given `arrivals`) once its answer reached the fake Slack."""
    load = Load()
    # As timeit does: no garbage collection in the measuring process while it times (the fake
    # Slack keeps every call, and a full collection of that heap stalled the clients 91 ms).
    gc.collect()
    gc.disable()
    watching = asyncio.create_task(_watch_stalls(load))
    try:
        started = time.perf_counter()
        tag = f"{port}-{text.split()[0]}-{time.monotonic_ns()}"
        await asyncio.gather(*(_client(client, port, slack, text, rounds, f"{tag}-{n}", load, arrivals, command)
                               for n in range(CLIENTS)))
        load.took = time.perf_counter() - started
    finally:
        watching.cancel()
        gc.enable()
    return load


async def _watch_stalls(load: Load, tick: float = 0.002) -> None:
    while True:
        began = time.perf_counter()
        await asyncio.sleep(tick)
        load.stall_ms = max(load.stall_ms, (time.perf_counter() - began - tick) * 1000)


async def _client(client: aiohttp.ClientSession, port: int, slack: FakeSlack, text: str, rounds: int,
                  tag: str, load: Load, arrivals: Arrivals | None, command: str = "/release") -> None:
    for r in range(rounds):
        hook = f"{tag}-{r}"
        user = f"U{abs(hash(tag)) % 10_000_000:07d}"
        body = urlencode({
            "token": "t", "team_id": "T111", "team_domain": "bench", "channel_id": "C0BENCH",
            "channel_name": "releases", "user_id": user, "user_name": user.lower(), "command": command,
            "text": text, "api_app_id": "A111", "response_url": slack.response_url(hook),
            "trigger_id": f"{hook}.trigger"})
        stamp = int(time.time())
        sent = time.perf_counter()
        load.sent_at[hook] = time.monotonic()
        async with client.post(f"http://127.0.0.1:{port}/slack/events", data=body.encode(), headers={
                "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": str(stamp),
                "X-Slack-Signature": sign(body, stamp, SECRET)}) as response:
            await response.read()
            load.statuses[response.status] = load.statuses.get(response.status, 0) + 1
        load.acks_ms.append((time.perf_counter() - sent) * 1000)
        if arrivals is not None:
            await arrivals.wait(hook)


async def _answers(arrivals: Arrivals, load: Load, quiet: float = 10.0) -> list[float]:
    """Milliseconds from sending each command to its response_url post at the fake Slack,
    waiting until all came (or none came for `quiet` seconds)."""
    def arrived() -> list[str]:
        return [hook for hook in load.sent_at if hook in arrivals.at]

    seen, since = 0, time.monotonic()
    while len(got := arrived()) < len(load.sent_at) and time.monotonic() - since < quiet:
        await asyncio.sleep(0.05)
        if len(got) > seen:
            seen, since = len(got), time.monotonic()
    return [(arrivals.at[hook] - load.sent_at[hook]) * 1000 for hook in arrived()]
