"""The API's edge, before any use case: a bearer token (401), a rate per token (429), a
bounded body (413), JSON that fits the route's pydantic model (422), and the
`Idempotency-Key` of a POST (a retry gets the first answer). The API never takes Slack's
signing path, and Slack's path (`/slack/events`) never accepts a token."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from bot.idempotency import Fresh, IdempotentRequests, KeyTaken, Mismatch, Replay, fingerprint
from bot.tokens import PipelineToken, TokenService
from handlers.api.views import Reply, error, invalid

log = logging.getLogger("releasebot.api")

#: The largest request body taken (a batch of 100 results with notes fits many times over).
MAX_BODY = 256 * 1024
KEY_LIMIT = 200


@dataclass
class RateLimit:
    """A token bucket per token: `burst` requests at once, `rate` a second after that."""

    rate: float = 50.0
    burst: float = 200.0
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, name: str) -> float:
        """0 when the request may go; else the seconds until one may."""
        now = time.monotonic()
        level, then = self._buckets.get(name, (self.burst, now))
        level = min(self.burst, level + (now - then) * self.rate)
        if level < 1:
            self._buckets[name] = (level, now)
            return (1 - level) / self.rate
        self._buckets[name] = (level - 1, now)
        return 0.0


@dataclass(frozen=True)
class Call:
    """One request as a route handler sees it."""

    request: web.Request
    token: PipelineToken
    body: Any
    #: The Idempotency-Key, when the request has one: unique keys of the use cases derive from it.
    key: str | None


Handler = Callable[[Call], Awaitable[Reply]]


def respond(reply: Reply) -> web.Response:
    return web.json_response(reply.body, status=reply.status, headers=reply.headers)


def bearer(request: web.Request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def read_body(request: web.Request) -> bytes | None:
    """The body, or None when it holds more than MAX_BODY (read no further than that)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def field_errors(exc: ValidationError) -> dict[str, str]:
    found: dict[str, str] = {}
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p[:1].isupper())) or "body"
        found.setdefault(where, str(err["msg"]).removeprefix("Value error, "))
    return found


class Edge:
    def __init__(self, tokens: TokenService, requests: IdempotentRequests, limit: RateLimit | None = None):
        self.tokens = tokens
        self.requests = requests
        self.limit = limit or RateLimit()

    def wrap(self, handler: Handler, body: type[BaseModel] | TypeAdapter[Any] | None) -> Callable[
            [web.Request], Awaitable[web.Response]]:
        async def endpoint(request: web.Request) -> web.Response:
            try:
                return respond(await self._handle(request, handler, body))
            except Exception:  # ours, not the pipeline's: logged, and answered in the API's shape
                log.exception("the pipeline API failed on %s %s", request.method, request.path)
                return respond(error(500, "internal_error", "The request failed on releasebot's side (it is "
                                                            "logged); retry it, with the same Idempotency-Key."))

        return endpoint

    async def _handle(self, request: web.Request, handler: Handler,
                      model: type[BaseModel] | TypeAdapter[Any] | None) -> Reply:
        token = await self.tokens.authenticate(bearer(request))
        if token is None:
            return error(401, "unauthorized", "Give a valid token: Authorization: Bearer TOKEN "
                                              "(`releasebot token create NAME` makes one).",
                         headers={"WWW-Authenticate": "Bearer"})
        wait = self.limit.take(token.name)
        if wait:
            return error(429, "rate_limited", f"Too many requests from the token {token.name}; slow down.",
                         headers={"Retry-After": str(max(1, round(wait)))})
        if request.content_length is not None and request.content_length > MAX_BODY:
            return error(413, "too_large", f"The body may hold at most {MAX_BODY // 1024} KiB.")
        raw = await read_body(request)
        if raw is None:
            return error(413, "too_large", f"The body may hold at most {MAX_BODY // 1024} KiB.")
        body: Any = None
        if model is not None:
            try:
                data = json.loads(raw or b"null")
            except (ValueError, UnicodeDecodeError):
                return invalid({"body": "The body is not JSON."})
            try:
                body = model.validate_python(data) if isinstance(model, TypeAdapter) else model.model_validate(data)
            except ValidationError as exc:
                return invalid(field_errors(exc))
        key = request.headers.get("Idempotency-Key", "").strip() or None
        if request.method != "POST" or key is None:
            return await handler(Call(request, token, body, None))
        if len(key) > KEY_LIMIT:
            return invalid({"Idempotency-Key": f"An Idempotency-Key is at most {KEY_LIMIT} characters."})
        print_ = fingerprint(request.method, request.path, raw)
        found = await self.requests.look_up(token.name, key, print_)
        if isinstance(found, Fresh):
            pending = self.requests.pending(found)
            try:
                with self.requests.running(pending):
                    reply = await handler(Call(request, token, body, key))
            except KeyTaken:  # another attempt claimed the key first: its answer is this one's
                found = await self.requests.look_up(token.name, key, print_)
            except BaseException:
                await self.requests.forget(pending)
                raise
            else:
                if reply.status >= 500:
                    await self.requests.forget(pending)
                else:
                    self.requests.answer(pending, reply.status, reply.body)
                return reply
        if isinstance(found, Replay):
            return Reply(found.status, found.body, {"Idempotent-Replayed": "true"})
        if isinstance(found, Mismatch):
            return error(422, "idempotency_key_reused", "This Idempotency-Key was used for another request; "
                                                        "use a new key for each distinct request.")
        return error(409, "request_in_progress", "A request with this Idempotency-Key is still running; "
                                                 "retry in a moment.", headers={"Retry-After": "1"})
