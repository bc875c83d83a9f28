"""Assembles the bot: settings → database → catalog → services → Bolt app, web app, scheduler.

The composition root, at the outer edge: the only module that knows every surface and
adapter. Nothing here is global: `build` returns a `Releasebot` that owns its engine,
scheduler and Slack client, so tests can run several.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import cast

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

import handlers.api
import handlers.slack
from bot import __version__, foreground
from bot.approvals import ApprovalService
from bot.blackouts import load_blackouts
from bot.calendar import CalendarAccess, CalendarService
from bot.cards import ReleaseCards
from bot.catalog import Catalog
from bot.clashes import ClashFinder, ClashNotices
from bot.clock import Clock, utcnow
from bot.communications import CommunicationService
from bot.config import Settings
from bot.context import Services
from bot.dispatcher import Dispatcher
from bot.followers import at_end, followers
from bot.freezes import FreezeService
from bot.gate import Gate
from bot.heartbeat import Heartbeat
from bot.home import HomeService
from bot.idempotency import IdempotentRequests
from bot.incidents import IncidentService, SupportWatch
from bot.metrics import MetricsService
from bot.model_review import ModelReviewService
from bot.model_versions import ModelVersions
from bot.pipeline import PipelineService
from bot.plans import PlanService
from bot.releases import ReleaseService
from bot.review import ReviewReports, ReviewService
from bot.roles import Roles
from bot.slack.directory import SlackDirectory
from bot.slack.gateway import SlackGateway, web_client
from bot.surveys import SurveyService
from bot.tokens import TokenCalendarAccess, TokenService
from bot.transitions import Transitions
from bot.verification import VerificationService
from handlers import calendar_feed
from handlers.database import failures_named
from handlers.slack import edge
from handlers.slack.ack_runner import PromptAckRunner
from handlers.slack.after_ack import ResponseUrls
from storage import db, migrate
from storage.changes import Committed
from storage.uow import UnitOfWorkFactory

log = logging.getLogger("releasebot")

EVENTS_PATH = "/slack/events"
#: How often surveys and reminders that have come due are looked for anyway: each is woken at
#: its own due time (bot/due_jobs.py); this poll catches what another replica planned.
TICK_SECONDS = 30.0


@dataclass
class Releasebot:
    settings: Settings
    engine: AsyncEngine
    catalog: Catalog
    services: Services
    bolt: AsyncApp
    client: AsyncWebClient
    dispatcher: Dispatcher
    heartbeat: Heartbeat
    #: Where Slack reaches the bot, for the start line: "http://0.0.0.0:3000/slack/events".
    listening: str = ""
    #: Who may read `/calendar.ics`: pipeline tokens, and RELEASEBOT_CALENDAR_TOKEN while it is set.
    calendar_access: CalendarAccess | None = None
    #: Ends early life support that ran out (a heartbeat job; tests run it at will).
    support: SupportWatch | None = None
    #: The pipeline API (`/api/v1`, DESIGN.md §7): its tokens, use cases, gate and limits.
    api: handlers.api.ApiParts | None = None
    #: The one HTTP session every response_url answer goes through (handlers/slack/after_ack.py).
    response_urls: ResponseUrls | None = None

    async def start(self) -> None:
        with failures_named(self.settings):
            await migrate.upgrade(self.engine)
        await self.services.versions.sync()
        self.heartbeat.start()
        log.info("%s", self.start_line())

    def start_line(self) -> str:
        """The one line an operator reads at start: what runs, on what, from where, where."""
        models = f"{len(self.catalog)} release model{'s' if len(self.catalog) != 1 else ''} from {self.catalog.folder}"
        where = self.listening or (f"port {self.settings.port}")
        return f"releasebot {__version__} started: database {self.settings.database}, {models}, {where}"

    async def stop(self) -> None:
        await self.heartbeat.shutdown()
        if self.api is not None:
            await self.api.requests.settled()
        if self.response_urls is not None:
            await self.response_urls.close()
        await self.engine.dispose()

    def web_app(self) -> web.Application:
        """`POST /slack/events` for every Slack request, `GET /healthz` for probes."""
        app = web.Application()
        app.router.add_post(EVENTS_PATH, self._slack_request)
        app.router.add_get("/healthz", self._healthz)
        if self.calendar_access is not None:
            calendar_feed.register(app, self.services.calendar, self.calendar_access)
        if self.api is not None:
            handlers.api.register(app, self.services, self.api)

        async def on_startup(_: web.Application) -> None:
            await self.start()

        async def on_cleanup(_: web.Application) -> None:
            await self.stop()

        app.on_startup.append(on_startup)
        app.on_cleanup.append(on_cleanup)
        return app

    async def _slack_request(self, request: web.Request) -> web.Response:
        """Signed first (401 otherwise, the body unread), then well-formed (400 and one log
        line otherwise), then Bolt. Work nobody waits on waits for a lull in these (`bot.foreground`)."""
        with foreground.serving():
            return await self._acked(request)

    async def _acked(self, request: web.Request) -> web.Response:
        body = await request.text()
        headers = dict(request.headers)
        if not edge.signed(self._verifier, body, headers):
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            read = edge.parsed(body, request.content_type)
        except edge.Malformed as problem:
            log.warning("refused a signed request to %s: %s", EVENTS_PATH, problem)
            return web.json_response({"error": "malformed request", "message": str(problem)}, status=400)
        # Bolt's HTTP mode insists on parsing the raw body again itself; its Socket Mode takes
        # the body already read. Nothing in Bolt looks at the mode but its signature check,
        # which is done above and turned off in Bolt (`build`).
        bolt_request = AsyncBoltRequest(body=read, query=request.query_string, mode="socket_mode",
                                       headers=cast(dict[str, str | Sequence[str]], headers))
        return await to_aiohttp_response(await self.bolt.async_dispatch(bolt_request))

    @cached_property
    def _verifier(self) -> SignatureVerifier | None:
        secret = self.settings.slack_signing_secret
        return SignatureVerifier(secret) if secret else None

    async def _healthz(self, _: web.Request) -> web.Response:
        if await db.ping(self.engine):
            return web.json_response({"ok": True})
        return web.json_response({"ok": False, "error": "database unreachable"}, status=503)


def build(settings: Settings, catalog: Catalog, clock: Clock = utcnow) -> Releasebot:
    settings.require_serving()
    engine = db.create_engine(settings.database_url)
    uow = UnitOfWorkFactory(db.sessionmaker(engine))
    client = web_client(settings.slack_bot_token, settings.slack_api_url)
    outbox_client = web_client(settings.slack_bot_token, settings.slack_api_url, retries=False)
    directory = SlackDirectory(client)
    versions = ModelVersions(uow, catalog, clock)
    roles = Roles(uow, versions, directory, settings.managers)
    freezes = FreezeService(uow, catalog, clock, roles, load_blackouts(catalog.folder, catalog.keys),
                            settings.timezone)
    clash_finder = ClashFinder(freezes)
    cards = ReleaseCards(versions)
    reports = ReviewReports(versions, catalog.templates)
    transitions = Transitions(uow, clock, followers(catalog, versions, cards, reports, clash_finder), at_end(cards))
    releases = ReleaseService(uow, catalog, clock, transitions, cards, versions, roles, ClashNotices(clash_finder))
    approvals = ApprovalService(uow, versions, clock, transitions, roles)
    verification = VerificationService(uow, versions, transitions, roles, freezes)
    surveys = SurveyService(uow, versions, clock, directory, roles)
    reviews = ReviewService(uow, clock, transitions, reports, roles)
    metrics = MetricsService(uow, catalog, clock)
    home = HomeService(uow, catalog, roles, metrics, freezes)
    services = Services(releases=releases, approvals=approvals, verification=verification, surveys=surveys,
                        reviews=reviews, catalog=catalog, clock=clock,
                        communications=CommunicationService(uow, versions, clock, roles), metrics=metrics, home=home,
                        plans=PlanService(uow, catalog, transitions, roles), versions=versions,
                        freezes=freezes, calendar=CalendarService(uow, catalog, clock, freezes),
                        incidents=IncidentService(uow, versions, transitions, roles),
                        model_reviews=ModelReviewService(uow, catalog, clock, roles))
    dispatcher = Dispatcher(uow, SlackGateway(outbox_client), clock, give_up=settings.delivery_give_up)
    heartbeat = Heartbeat(dispatcher)
    heartbeat.every(TICK_SECONDS, surveys.tick, "surveys", surveys.next_due)
    heartbeat.every(TICK_SECONDS, approvals.remind, "approval-reminders", approvals.next_due)
    support = SupportWatch(uow, versions, transitions, clock)
    heartbeat.every(TICK_SECONDS, support.tick, "early-life-support", support.next_due)
    heartbeat.every(TICK_SECONDS, services.model_reviews.remind, "model-review-reminders",
                    services.model_reviews.next_due)
    tokens = TokenService(uow, catalog, clock)
    gate = Gate(uow, versions, freezes)
    api = handlers.api.ApiParts(tokens, PipelineService(uow, catalog, clock, releases, verification, freezes),
                                gate, IdempotentRequests(uow, clock))

    def committed(change: Committed) -> None:
        if change.enqueued:
            heartbeat.wake(gather=True)
            heartbeat.rearm()
        gate.changed(None if change.everything else change.releases)

    uow.on_commit = committed
    bolt_log = logging.getLogger("releasebot.bolt")
    if not any(isinstance(f, _ClientOverToken) for f in bolt_log.filters):
        bolt_log.addFilter(_ClientOverToken())
    bolt = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret or None,
        process_before_response=False,
        # `Releasebot._slack_request` checks every signature before Bolt sees the request
        # (401, the body unread otherwise); Bolt checking it again cost every ack an HMAC.
        request_verification_enabled=False,
        logger=bolt_log,
    )
    PromptAckRunner.install(bolt)
    response_urls = handlers.slack.register(bolt, services)
    # The calendar reads the pipeline tokens; RELEASEBOT_CALENDAR_TOKEN still works while it is set.
    return Releasebot(settings, engine, catalog, services, bolt, client, dispatcher, heartbeat,
                      calendar_access=TokenCalendarAccess(tokens, settings.releasebot_calendar_token),
                      support=support, api=api, response_urls=response_urls)


class _ClientOverToken(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment on its own and, finding the client we
    built from that very token, warns on every start that "token will be unused"."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be unused" not in record.getMessage()
