"""The pipeline API (DESIGN.md §7): JSON under `/api/v1` on the serving port, a surface of its
own over the same use cases as Slack. `register` routes it from the table of `routes.Api.routes`."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from bot.context import Services
from bot.gate import Gate
from bot.idempotency import IdempotentRequests
from bot.pipeline import PipelineService
from bot.tokens import TokenService
from handlers.api.edge import Edge, RateLimit
from handlers.api.openapi import document
from handlers.api.routes import PREFIX, Api


@dataclass
class ApiParts:
    """What the API is built from, beside the services Slack uses too."""

    tokens: TokenService
    pipeline: PipelineService
    gate: Gate
    requests: IdempotentRequests
    limit: RateLimit = field(default_factory=RateLimit)


def register(app: web.Application, services: Services, parts: ApiParts) -> Edge:
    api = Api(services, parts.pipeline, parts.gate)
    edge = Edge(parts.tokens, parts.requests, parts.limit)
    routes = api.routes()
    for route in routes:
        app.router.add_route(route.method, route.path, edge.wrap(route.handler, route.body))
    spec = document(routes)

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(spec)

    app.router.add_get(f"{PREFIX}/openapi.json", openapi)
    return edge
