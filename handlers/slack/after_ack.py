"""The work a listener does after its ack: bounded, and answered over one shared connection pool.

With `process_before_response=False` Bolt answers Slack as soon as a listener acks, and the
listener goes on in the same event loop. Unbounded, fifty busy people's post-ack work (a
transaction, rendering, a response_url post each) runs all at once and every new request's ack
waits in line behind it: `/release list` acks were 24 times slower than a bare Bolt app's.
So post-ack work queues for one of `LIMIT` slots (`bounded`): acks never wait for more than
that much work, and every queued piece of work still runs, in arrival order.

Acks come first: a slot's next piece of work starts in a lull of Slack requests
(`bot.foreground`), or once it has waited `PATIENCE_SECONDS`. In a burst the answers then
follow the acks instead of slowing them down. bench/acks.py on SQLite with
100,000 releases: floods of `/release schedule` and `metrics` were acked at 1.6–2.0× the
bare app's p99 without this, 0.7–1.3× with it; the price is that people who wait for their
answers in that burst wait longer (median 0.1–0.2 s before, 0.3–0.45 s after). Under a burst
that never ends the work still runs, a second late, and the acks slow down as before.

Bolt's own `respond()` opens a new HTTP session, and so a new connection, for every answer;
`install` makes every listener's `respond` post through one aiohttp session per app instead,
closed with it (`ResponseUrls.close`). It does so as a middleware object, not a middleware
function: Bolt injects a function's arguments by inspecting its signature on every request,
which cost each ack about as much as the listener that acks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.context.respond.internals import _build_message
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.webhook import WebhookResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import foreground

T = TypeVar("T")

#: Post-ack work running at once, per event loop: two, so that one slow piece (a model review
#: drawing its chart, a long transaction) does not hold every answer up, and few enough that
#: an ack is never far behind (bench/acks.py: one slot measured no better within its noise).
LIMIT = 2

#: The longest post-ack work waits for a lull: answers stay within a second or so of their
#: commands even in a burst that does not let up.
PATIENCE_SECONDS = 1.0


async def bounded(work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` when one of the `LIMIT` slots is free (waiting in arrival order) and acks
    have had a lull, or `PATIENCE_SECONDS` after it was queued."""
    loop = asyncio.get_running_loop()
    queued = loop.time()
    async with _slots():
        await foreground.lull(max(queued + PATIENCE_SECONDS - loop.time(), 0.0))
        return await work()


_loops: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = WeakKeyDictionary()


def _slots() -> asyncio.Semaphore:
    """This event loop's post-ack slots (tests run several loops, one after another)."""
    loop = asyncio.get_running_loop()
    slots = _loops.get(loop)
    if slots is None:
        slots = _loops[loop] = asyncio.Semaphore(LIMIT)
    return slots


class ResponseUrls:
    """One aiohttp session for every response_url post of an app, opened at first use."""

    TIMEOUT_SECONDS = 30

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.TIMEOUT_SECONDS))
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


class PooledRespond(AsyncRespond):
    """Bolt's `respond`, posting through the app's shared session."""

    def __init__(self, response_url: str, urls: ResponseUrls):
        super().__init__(response_url=response_url)
        self._urls = urls

    async def __call__(  # type: ignore[override]
        self, text: str | dict[str, Any] = "", blocks: Sequence[dict[str, Any]] | None = None,
        attachments: Sequence[dict[str, Any]] | None = None, response_type: str | None = None,
        replace_original: bool | None = None, delete_original: bool | None = None,
        unfurl_links: bool | None = None, unfurl_media: bool | None = None, thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        if isinstance(text, dict):
            message = _build_message(**text)
        else:
            message = _build_message(text=text, blocks=blocks, attachments=attachments,
                                     response_type=response_type, replace_original=replace_original,
                                     delete_original=delete_original, unfurl_links=unfurl_links,
                                     unfurl_media=unfurl_media, thread_ts=thread_ts, metadata=metadata)
        client = AsyncWebhookClient(url=str(self.response_url), session=self._urls.session())
        return await client.send_dict(message)


class _PooledResponses(AsyncMiddleware):
    """Puts a `PooledRespond` in every context that has a response_url."""

    def __init__(self, urls: ResponseUrls) -> None:
        self.urls = urls

    async def async_process(self, *, req: AsyncBoltRequest, resp: BoltResponse,
                            next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse | None:  # noqa: A002
        if req.context.response_url:
            req.context["respond"] = PooledRespond(req.context.response_url, self.urls)
        return await next()


def install(bolt: AsyncApp) -> ResponseUrls:
    """Give every listener of `bolt` a `respond` over one shared session; returns it to close."""
    urls = ResponseUrls()
    bolt.middleware(_PooledResponses(urls))
    return urls
