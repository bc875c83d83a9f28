"""Plays a CI/CD pipeline: JSON requests with a bearer token into the real app's `/api/v1`,
as `curl` in docs/pipelines.md sends them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from handlers.app import Releasebot


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    def __getitem__(self, key: str) -> Any:
        return self.body[key]


@dataclass
class Pipeline:
    http: TestClient
    token: str

    async def call(self, method: str, path: str, body: Any = None, *, key: str | None = None,
                   token: str | None = None, raw: bytes | None = None) -> Answer:
        headers = {"Content-Type": "application/json"}
        given = self.token if token is None else token
        if given:
            headers["Authorization"] = f"Bearer {given}"
        if key:
            headers["Idempotency-Key"] = key
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        response = await self.http.request(method, f"/api/v1{path}", data=data, headers=headers)
        text = await response.text()
        return Answer(response.status, json.loads(text) if text else None, dict(response.headers))

    async def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return await self.call("POST", path, body, **kw)

    async def get(self, path: str, **kw: Any) -> Answer:
        return await self.call("GET", path, **kw)


async def token(bot: Releasebot, name: str, models: list[str] | None = None, may_freeze: bool = False) -> str:
    assert bot.api is not None
    made = await bot.api.tokens.create(name, models, may_freeze)
    assert made.ok, made
    return made.unwrap().secret


def release_body(**over: Any) -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    body: dict[str, Any] = {
        "title": "Payments API 2.4", "planned_start": start.isoformat(),
        "planned_end": (start + timedelta(hours=1)).isoformat(), "owner": "UALICE",
        "service": "payments-api", "environment": "prod", "components": ["payments-api"],
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}
