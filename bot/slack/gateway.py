"""The dispatcher's Gateway on slack-sdk: posts and updates, with Slack's errors classified.

The outbox's client has no retry handlers of its own: a 429, a 5xx or a dropped connection
goes straight back to the dispatcher, which retries durably with backoff and honours
Retry-After for that conversation alone, instead of sleeping inside a call while every other
conversation waits. Bolt's client (for the calls a listener makes after its ack) keeps
slack-sdk's single in-call retries.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot import delivery_check
from bot.dispatcher import DeliveryError, FileToShare, MessageGone
from bot.rendering import blocks as bk

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = frozenset({
    "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
})


#: How far back a row that may have been posted is looked for: pages of conversations.history.
HISTORY_PAGES = 5
HISTORY_PAGE = 200

#: How long a user group's members are remembered: briefly, so that changes show soon.
GROUP_TTL_SECONDS = 60.0


def web_client(token: str, base_url: str, timeout: int = 10, *, retries: bool = True) -> AsyncWebClient:
    handlers = [
        AsyncConnectionErrorRetryHandler(max_retry_count=1),
        AsyncRateLimitErrorRetryHandler(max_retry_count=1),
        AsyncServerErrorRetryHandler(max_retry_count=1),
    ] if retries else []
    return AsyncWebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=handlers)


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
    def __init__(self, client: AsyncWebClient, group_ttl: float = GROUP_TTL_SECONDS):
        self.client = client
        self.group_ttl = group_ttl
        self._groups: dict[str, tuple[float, list[str]]] = {}

    async def post(self, channel: str, text: str, blocks: list[bk.Block] | None, *,
                   metadata: dict[str, Any] | None = None) -> tuple[str, str]:
        try:
            response = await self.client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False,
                metadata=metadata,
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

    async def find_tagged(self, channel: str, row_id: int, oldest: datetime) -> tuple[str, str] | None:
        """The (channel, ts) of the bot's message tagged with outbox row `row_id`, posted in
        `channel` (a user id: the direct message with them) since `oldest`, or None.

        A conversation the bot cannot read (not a member, no `*:history` scope, as in an app
        installed from an older manifest) answers None with a warning: the row is posted
        again, as before this check existed. Slack's own trouble (rate limits, 5xx, network)
        is a DeliveryError, so the row is retried and looked for again later."""
        try:
            conversation = await self._conversation_of(channel)
            cursor: str | None = None
            for _ in range(HISTORY_PAGES):
                response = await self.client.conversations_history(
                    channel=conversation, oldest=f"{oldest.timestamp():.6f}", include_all_metadata=True,
                    limit=HISTORY_PAGE, cursor=cursor)
                for message in response.get("messages") or []:
                    if delivery_check.tagged_row(message) == row_id:
                        return conversation, str(message["ts"])
                cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
                if not response.get("has_more") or not cursor:
                    return None
        except SlackApiError as exc:
            error = classify(exc)
            if error.permanent:
                log.warning("could not look for outbox row %s in %s (%s): posting it again may repeat it",
                            row_id, channel, error.error)
                return None
            raise error from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"network: {type(exc).__name__}", permanent=False) from None
        log.warning("outbox row %s not found in the last %d messages of %s", row_id,
                    HISTORY_PAGES * HISTORY_PAGE, channel)
        return None

    async def _conversation_of(self, channel: str) -> str:
        """A user id names the direct message with them (`conversations.open`, `im:write`)."""
        if channel[:1] not in ("U", "W"):
            return channel
        response = await self.client.conversations_open(users=channel)
        return str(response["channel"]["id"])

    async def members(self, group: str) -> list[str]:
        """The members of a user group (`usergroups.users.list`), cached for `group_ttl`."""
        cached = self._groups.get(group)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            response = await self.client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            raise classify(exc) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"network: {type(exc).__name__}", permanent=False) from None
        users = [str(user) for user in response.get("users") or []]
        self._groups[group] = (time.monotonic() + self.group_ttl, users)
        return users

    async def upload(self, channel: str, file: FileToShare, comment: str) -> None:
        """Share a file in `channel` with Slack's files upload v2: files.getUploadURLExternal,
        the bytes to the URL it gives, then files.completeUploadExternal. A failure at any step
        goes back to the dispatcher, which retries the whole upload; the file is only shared by
        the last step, so a retry never shares it twice."""
        try:
            got = await self.client.files_getUploadURLExternal(filename=file.filename, length=len(file.content),
                                                              alt_txt=file.alt_text or None)
            await self._send_bytes(str(got["upload_url"]), file)
            await self.client.files_completeUploadExternal(
                files=[{"id": str(got["file_id"]), "title": file.title}], channel_id=channel,
                initial_comment=comment or None)
        except SlackApiError as exc:
            raise classify(exc) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"network: {type(exc).__name__}", permanent=False) from None

    async def _send_bytes(self, url: str, file: FileToShare) -> None:
        timeout = aiohttp.ClientTimeout(total=self.client.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.post(url, data=file.content,
                                    headers={"Content-Type": "application/octet-stream"}) as response:
                if response.status == 429:
                    raise DeliveryError("ratelimited", permanent=False,
                                        retry_after=float(response.headers.get("Retry-After") or 1))
                if response.status >= 500:
                    raise DeliveryError(f"upload_http_{response.status}", permanent=False)
                if response.status >= 400:
                    raise DeliveryError(f"upload_http_{response.status}", permanent=True)
