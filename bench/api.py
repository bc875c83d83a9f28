"""The pipeline API under load: the gate and create at 50 concurrent pipelines (issue 11).

Runs `releasebot serve` in a process of its own, with the Web API pointed at the fake Slack of
the test suite, and, in this process, 50 pipelines (each with its own token) as concurrent
HTTP clients and an approver who clicks *Approve* in that fake Slack: the server's process
does only the server's work (Slack and the pipelines are not in it in production), and the
person's approval reaches it the way Slack sends it (a signed block_actions request). Two load
models:

- paced (the bound's): each pipeline behaves like one. It takes `RUNS` (6) releases one
  after another from plan to released, the way docs/pipelines.md does it, and between two
  calls it builds, tests or deploys for a random `PAUSE` (0.5–1.5 s). A run of the
  pre-authorized model: create, submit, the gate (`?wait=60`; ready, so answered at once),
  start, the release verification (released, announced). A run of the model a person
  approves: create, submit, the gate held (`?wait=60`, again after a second) until the
  approver clicks *Approve* on the approval request 1–4 s after it reached Slack, the
  component and procedure results as one batch, the gate again (ready: answered at once),
  start, the release verification. About 50 requests a second arrive, at times of their own.
  Before it, one more pipeline takes a release of each kind through that cycle, unmeasured
  (a warm-up: the server is measured as one that has served before, its statements
  compiled, rather than in its first second).
- burst (for the record): the 50 pipelines fire at once with no pause, each creating 6
  releases back to back, then polling its gate 20 times back to back. Every figure there is
  the queue of 50 requests in one process (p99 ≈ 50 × one request's time), which no
  single-process server keeps under 50 ms; it is printed without a bound.

The figures are the latencies the clients saw: p99 against the issue's bound of 50 ms, p50
beside it, and the CPU the serving process spent per request of the paced load (all of it:
the requests, the outbox's sends, its timers). The gate's figure is of the requests answered
at once; a gate request held until a person approved is measured from the click (the signed
request sent) to the pipeline's answer (how soon a waiting pipeline hears), printed without
a bound. This process collects no garbage while the pipelines run (as timeit does), so that a
collection of the fake Slack's records does not stall every request in flight.

    .venv/bin/python -m bench --only api [--database postgresql+asyncpg://…/scratch]

SQLite takes one writer at a time (every write transaction begins IMMEDIATE): the serving
process's writers take turns on a lock (storage/db.py `writers`), so writers that arrive
together queue there.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.figures import Figure
from bench.metrics_scale import _free_port, _until_listening, serve_env
from bot.catalog import Catalog
from bot.clock import utcnow
from bot.config import Settings
from bot.tokens import TokenService
from handlers.database import opened
from handlers.sandbox.calls import Call
from storage import db, migrate
from storage.uow import UnitOfWorkFactory
from tests.fake_slack import FakeSlack
from tests.workspace import SIGNING_SECRET, Workspace

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = 50
BOUND_MS = 50.0
#: Paced: releases each pipeline takes from plan to released, and the seconds it spends
#: building, testing or deploying between two calls.
RUNS = 6
PAUSE = (0.5, 1.5)
#: Seconds a person takes to approve in Slack after the submission.
APPROVAL = (1.0, 4.0)
APPROVER = "UBOB"
#: Burst: releases each pipeline creates, then gate requests it makes, back to back.
CREATES = 6
GATES = 20


def _models(folder: Path) -> Path:
    """Two release models per pipeline, as 50 services of 50 teams have: one a person approves
    and one pre-authorized, each with the team's own channels. Slack takes about a message a
    second in a conversation (the outbox keeps to it), so 50 teams' approval requests in one
    channel would wait there for minutes, which no workspace of 50 busy teams does."""
    folder.mkdir()
    for n in range(PIPELINES):
        (folder / f"deploy-{n}.yaml").write_text(f"""key: deploy-{n}
name: Deployment of service {n}
approach: push
approval: {{channel: CAPPROVE{n}, approvers: [{APPROVER}], quorum: 1}}
verification:
  components: [Unit tests green, Integration tests green]
  procedures: [Rollback rehearsed]
  release: [Smoke tests pass]
  by_pipeline: [Integration tests green]
communications:
  channel: CANNOUNCE{n}
  plan: [{{on: released, template: released}}]
match: {{services: [payments-{n}], environments: [prod]}}
""")
        (folder / f"standard-{n}.yaml").write_text(f"""key: standard-{n}
name: Standard change of site {n}
approach: push
approval: {{channel: CAPPROVE{n}, approvers: [{APPROVER}], pre_authorized: true}}
verification:
  release: [Smoke tests pass]
communications:
  channel: CANNOUNCE{n}
  plan: [{{on: released, template: released}}]
match: {{services: [docs-{n}]}}
""")
    return folder


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


@dataclass
class Timings:
    """What the clients saw, in ms by call; and the gate requests made while a release awaited
    its approval: (release, sent, answered, state answered), wall-clock seconds."""

    calls: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    waiting: list[tuple[str, float, float, str]] = field(default_factory=list)


class Client:
    """One pipeline's HTTP calls, timed."""

    def __init__(self, session: aiohttp.ClientSession, base: str, secret: str, timings: Timings):
        self.session = session
        self.base = base
        self.auth = {"Authorization": f"Bearer {secret}"}
        self.timings = timings

    async def post(self, what: str, path: str, body: Any = None, expect: int = 200) -> dict[str, Any]:
        headers = {**self.auth, "Idempotency-Key": uuid.uuid4().hex}
        data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json"
        began = time.perf_counter()
        async with self.session.post(f"{self.base}/api/v1{path}", data=data, headers=headers) as response:
            answer: dict[str, Any] = await response.json()
        self.timings.calls[what].append((time.perf_counter() - began) * 1000)
        assert response.status == expect, (path, response.status, answer)
        return answer

    async def gate(self, ref: str, wait: int = 0) -> tuple[dict[str, Any], float, float]:
        """The answer, and when the request was sent and answered (wall-clock seconds)."""
        began, clock = time.time(), time.perf_counter()
        async with self.session.get(f"{self.base}/api/v1/releases/{ref}/gate",
                                    params={"wait": str(wait)} if wait else None, headers=self.auth) as response:
            answer: dict[str, Any] = await response.json()
        assert response.status == 200, answer
        return answer, began, began + time.perf_counter() - clock

    async def gate_at_once(self, ref: str) -> dict[str, Any]:
        answer, began, ended = await self.gate(ref, wait=60)
        self.timings.calls["gate"].append((ended - began) * 1000)
        return answer


async def _paced(client: Client, index: int, day: int, rng: random.Random, runs: int = RUNS) -> None:
    async def pause() -> None:
        await asyncio.sleep(rng.uniform(*PAUSE))

    async def approval(ref: str) -> None:
        """Wait at the gate as docs/pipelines.md does (`?wait=60`, again after a second)
        while the release awaits its approval."""
        while True:
            answer, began, ended = await client.gate(ref, wait=60)
            client.timings.waiting.append((ref, began, ended, answer["state"]))
            if answer["state"] != "awaiting_approval":
                return
            await asyncio.sleep(1)

    for run in range(runs):
        approved_by_person = (index + run) % 2 == 0
        service = f"payments-{index}" if approved_by_person else f"docs-{index}"
        await pause()
        ref = (await client.post("create", "/releases", _body(index * 100 + run, service, day), 201))["id"]
        await pause()
        await client.post("submit", f"/releases/{ref}/submit")
        if approved_by_person:
            await approval(ref)  # answered when the approval comes: approved, to be verified
            await pause()
            await client.post("verify", f"/releases/{ref}/verifications", {"results": [
                {"stage": "components", "criterion": "Unit tests green", "outcome": "pass"},
                {"stage": "components", "criterion": "Integration tests green", "outcome": "pass"},
                {"stage": "procedures", "criterion": "Rollback rehearsed", "outcome": "pass"}]}, 201)
        await pause()
        answer = await client.gate_at_once(ref)  # ready: nothing to wait for
        assert answer["go"], answer
        await client.post("start", f"/releases/{ref}/start")
        await pause()
        done = await client.post("verify", f"/releases/{ref}/verifications",
                                 {"stage": "release", "criterion": "Smoke tests pass", "outcome": "pass"}, 201)
        assert done["release"]["state"] == "released", done


async def _burst(client: Client, index: int, day: int, start: asyncio.Event, polling: asyncio.Event,
                 planned: list[int]) -> None:
    await start.wait()
    refs: list[str] = []
    for n in range(CREATES):
        service = f"docs-{index}" if n == 0 else f"payments-{index}"
        refs.append((await client.post("create", "/releases", _body(index * 100 + n, service, day), 201))["id"])
    await client.post("submit", f"/releases/{refs[0]}/submit")
    planned.append(index)
    if len(planned) == PIPELINES:
        polling.set()
    await polling.wait()  # every pipeline has planned: now the 50 poll their gates at once
    for n in range(GATES):
        _, began, ended = await client.gate(refs[n % len(refs)])
        client.timings.calls["gate"].append((ended - began) * 1000)


async def _warm_up(base: str, secret: str, day: int) -> None:
    """One pipeline takes a release of each model through the paced cycle, unmeasured, before
    the 50 start: the server then answers as one that has served before (its statements
    compiled, its pools filled), not as one started a second ago."""
    async with aiohttp.ClientSession() as session:
        await _paced(Client(session, base, secret, Timings()), 0, day, random.Random(day), runs=2)


async def _pipelines(base: str, secrets: list[str], day: int, burst: bool) -> Timings:
    timings = Timings()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=PIPELINES * 2)) as session:
        clients = [Client(session, base, secret, timings) for secret in secrets]
        if not burst:
            await asyncio.gather(*(_paced(c, n, day, random.Random(day + n)) for n, c in enumerate(clients)))
            return timings
        start, polling = asyncio.Event(), asyncio.Event()
        planned: list[int] = []
        jobs = [asyncio.create_task(_burst(c, n, day, start, polling, planned)) for n, c in enumerate(clients)]
        start.set()
        await asyncio.gather(*jobs)
    return timings


class Http:
    """What `tests.workspace.Workspace` posts with, over a real client session to the server."""

    def __init__(self, session: aiohttp.ClientSession, base: str):
        self.session = session
        self.base = base

    def post(self, path: str, **kw: Any) -> Any:
        return self.session.post(self.base + path, **kw)


class Person:
    """An approver in Slack: sees each approval request as it reaches the fake Slack, and
    clicks its *Approve* 1–4 s later (a signed block_actions request, as Slack sends it)."""

    def __init__(self, slack: FakeSlack, workspace: Workspace, rng: random.Random):
        self.slack = slack
        self.workspace = workspace
        self.rng = rng
        #: When the person clicked and when Slack had the click's answer, by release.
        self.clicked: dict[str, float] = {}
        self.approved: dict[str, float] = {}
        self.tasks: list[asyncio.Task[None]] = []

    async def watch(self) -> None:
        changed = self.slack.subscribe()
        seen, read = set[str](), 0
        while True:
            await changed.wait()
            changed.clear()
            calls, read = self.slack.calls[read:], len(self.slack.calls)
            for call in calls:
                ref = self._request_of(call)
                if ref is not None and ref not in seen:
                    seen.add(ref)
                    self.tasks.append(asyncio.create_task(self._approve(ref, call)))

    @staticmethod
    def _request_of(call: Call) -> str | None:
        """The release an approval request is for (the value of its *Approve*), else None."""
        if call.method != "chat.postMessage" or not call.ok:
            return None
        approve = [b for b in call.buttons() if b["text"]["text"] == "Approve"]
        return f"REL-{approve[0]['value']}" if approve else None

    async def _approve(self, ref: str, request: Call) -> None:
        await asyncio.sleep(self.rng.uniform(*APPROVAL))
        self.clicked[ref] = time.time()
        answer = await self.workspace.click("Approve", on=request, by=APPROVER)
        assert answer.status == 200, answer
        self.approved[ref] = time.time()

    def woken(self, timings: Timings) -> tuple[list[float], list[float]]:
        """ms from the click to the answer of each gate request held until the approval; and
        the ms of those sent after the click was answered (an answer that can still change,
        approved and waiting for verification, is held until it does or the wait runs out)."""
        found: list[float] = []
        late: list[float] = []
        for ref, began, ended, state in timings.waiting:
            if state == "awaiting_approval":
                continue  # held its 60 s: asked again
            if began >= self.approved[ref]:
                late.append((ended - began) * 1000)
            else:
                found.append(max(0.0, ended - self.clicked[ref]) * 1000)
        return found, late


async def _tokens(settings: Settings, models: Path, label: str, count: int) -> list[str]:
    """`count` tokens made in the database the server will serve (as `releasebot token
    create` makes them), before it starts."""
    async with opened(settings) as engine:
        await migrate.upgrade(engine)
        tokens = TokenService(UnitOfWorkFactory(db.sessionmaker(engine)), Catalog.load(models), utcnow)
        return [(await tokens.create(f"bench-{label}-{n}")).unwrap().secret for n in range(count)]


def _cpu_seconds(pid: int) -> float:
    """The CPU time (user and system, every thread) a process has spent so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def figures(database_url: str | None) -> list[Figure]:
    slack = FakeSlack()
    await slack.start()
    with tempfile.TemporaryDirectory() as tmp:
        models = _models(Path(tmp) / "models")
        url = database_url or f"sqlite+aiosqlite:///{tmp}/bench-api.db"
        settings = Settings.model_validate({
            "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.api_url,
            "DATABASE_URL": url, "RELEASEBOT_MODELS": str(models),
        })
        run = uuid.uuid4().hex[:6]
        day = int(run, 16)  # a scratch database reused: each run plans on days of its own
        secrets = {phase: await _tokens(settings, models, f"{run}-{phase}", 1 if phase == "warm" else PIPELINES)
                   for phase in ("warm", "paced", "burst")}
        port = _free_port()
        env = serve_env(url, slack.api_url, SIGNING_SECRET, RELEASEBOT_MODELS=str(models))
        log = tempfile.TemporaryFile()
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "handlers.cli", "serve", "--port", str(port), env=env, cwd=ROOT,
            stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            await _until_listening(port, server)
            async with aiohttp.ClientSession() as session:
                person = Person(slack, Workspace(Http(session, base), slack), random.Random(day))  # type: ignore[arg-type]
                watching = asyncio.create_task(person.watch())
                await _warm_up(base, secrets["warm"][0], day + 2)
                warm_clicks = len(person.clicked)
                gc.collect()
                gc.disable()
                cpu, took = _cpu_seconds(server.pid), time.monotonic()
                paced = await _pipelines(base, secrets["paced"], day, burst=False)
                cpu, took = _cpu_seconds(server.pid) - cpu, time.monotonic() - took
                watching.cancel()
                await asyncio.gather(*person.tasks)
                woken, late = person.woken(paced)
                gc.collect()
                burst = await _pipelines(base, secrets["burst"], day + 1, burst=True)
        finally:
            gc.enable()
            server.terminate()
            await server.wait()
            log.close()
            await slack.close()
    where = url.split(":")[0].split("+")[0]
    calls = paced.calls
    others = ", ".join(f"{what} p99 {_p(calls[what], 0.99):.0f} ms" for what in ("submit", "verify", "start"))
    detail = f"{PIPELINES} pipelines, {PAUSE[0]}–{PAUSE[1]} s between calls"
    requests = sum(len(v) for v in calls.values()) + len(paced.waiting) + len(person.clicked) - warm_clicks
    return [
        Figure(f"create p99 ({where}, paced)", _p(calls["create"], 0.99), "ms", BOUND_MS,
               detail=f"{detail}, {len(calls['create'])} creates, p50 {statistics.median(calls['create']):.1f} ms"),
        Figure(f"gate p99 ({where}, paced)", _p(calls["gate"], 0.99), "ms", BOUND_MS,
               detail=f"{detail}, {len(calls['gate'])} answered at once, "
                      f"p50 {statistics.median(calls['gate']):.1f} ms; {others}"),
        Figure(f"gate held, answered after the approval p99 ({where})", _p(woken, 0.99), "ms",
               detail=f"{len(woken)} held requests, from the click, p50 {statistics.median(woken):.1f} ms; "
                      f"{len(late)} sent after the approval, held {', '.join(f'{v / 1000:.0f}' for v in late)} s"),
        Figure(f"serving process CPU per request ({where}, paced)", cpu * 1000 / requests, "ms",
               detail=f"{cpu:.1f} s of CPU in {took:.0f} s ({cpu / took:.0%} of a core) for {requests} requests "
                      "(the approvals' clicks among them), the outbox's sends and the timers included"),
        Figure(f"create p99 ({where}, burst, no bound)", _p(burst.calls["create"], 0.99), "ms",
               detail=f"{PIPELINES} at once back to back, {len(burst.calls['create'])} creates, "
                      f"p50 {statistics.median(burst.calls['create']):.1f} ms"),
        Figure(f"gate p99 ({where}, burst, no bound)", _p(burst.calls["gate"], 0.99), "ms",
               detail=f"{PIPELINES} at once back to back, {len(burst.calls['gate'])} gate requests, "
                      f"p50 {statistics.median(burst.calls['gate']):.1f} ms"),
    ]
