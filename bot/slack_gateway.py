"""The dispatcher's Gateway on slack-sdk: posts and updates, with Slack's errors classified.

slack-sdk's retry handlers absorb a single 429 (honouring Retry-After), a 5xx and a dropped
connection inside one call; what still fails is handed back to the outbox, which retries
durably with backoff.
"""

from __future__ import annotations

import logging

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks as bk
from bot.dispatcher import DeliveryError, MessageGone

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = frozenset({
    "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
})


def web_client(token: str, base_url: str, timeout: int = 10) -> AsyncWebClient:
    return AsyncWebClient(
        token=token, base_url=base_url, timeout=timeout,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=1),
            AsyncServerErrorRetryHandler(max_retry_count=1),
        ],
    )


def classify(exc: SlackApiError) -> DeliveryError:
    status = exc.response.status_code
    error = str(exc.response.get("error") or f"http_{status}") if isinstance(exc.response.data, dict) \
        else f"http_{status}"
    if status == 429:
        header = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
        try:
            retry_after = float(header) if header is not None else 1.0
        except (TypeError, ValueError):
            retry_after = 1.0
        return DeliveryError("ratelimited", permanent=False, retry_after=retry_after)
    if status >= 500 or error in TRANSIENT_ERRORS:
        return DeliveryError(error, permanent=False)
    if error == "message_not_found":
        return MessageGone()
    return DeliveryError(error, permanent=True)


class SlackGateway:
    def __init__(self, client: AsyncWebClient):
        self.client = client

    async def post(self, channel: str, text: str, blocks: list[bk.Block] | None) -> tuple[str, str]:
        try:
            response = await self.client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
            )
        except SlackApiError as exc:
            raise classify(exc) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"network: {type(exc).__name__}", permanent=False) from None
        return str(response["channel"]), str(response["ts"])

    async def update(self, channel: str, ts: str, text: str, blocks: list[bk.Block] | None) -> None:
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks or [])
        except SlackApiError as exc:
            raise classify(exc) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"network: {type(exc).__name__}", permanent=False) from None
