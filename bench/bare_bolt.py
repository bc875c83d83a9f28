"""The baseline of bench/acks.py: a bare Bolt app, the same signing, `/release` acked at once,
and `/answer` acked then answered through its response_url (over one shared HTTP session, as
releasebot answers), the baseline of the people who wait for their answers.

    python -m bench.bare_bolt PORT SIGNING_SECRET SLACK_API_URL

Served as Bolt serves itself on aiohttp (`AsyncApp.web_app()`), in a process of its own like
`releasebot serve`, so both are measured under the same conditions in the same run.
"""

from __future__ import annotations

import logging
import sys

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient


def app(secret: str, api_url: str) -> web.Application:
    bolt = AsyncApp(client=AsyncWebClient(token="xoxb-bench", base_url=api_url), signing_secret=secret,
                    process_before_response=False, logger=logging.getLogger("bare"))

    @bolt.command("/release")
    async def on_release(ack: AsyncAck) -> None:
        await ack(response_type="ephemeral", text="ok")

    sessions: list[aiohttp.ClientSession] = []

    @bolt.command("/answer")
    async def on_answer(ack: AsyncAck, command: dict[str, str]) -> None:
        await ack()
        if not sessions:
            sessions.append(aiohttp.ClientSession())
        await AsyncWebhookClient(command["response_url"], session=sessions[0]).send_dict(
            {"text": "ok", "response_type": "ephemeral", "replace_original": False})

    return bolt.web_app(path="/slack/events")


if __name__ == "__main__":
    port, secret, api_url = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    logging.basicConfig(level=logging.WARNING)
    web.run_app(app(secret, api_url), host="127.0.0.1", port=port, print=None)
