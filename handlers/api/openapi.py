"""`GET /api/v1/openapi.json`: the OpenAPI 3.1 document, generated from the route table and
the pydantic models the requests are validated with (no hand-written spec that can drift)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bot import __version__
from handlers.api import schemas
from handlers.api.routes import Route

REF = "#/components/schemas/{model}"
ERROR_TEXT = {401: "missing, unknown or revoked token", 403: "outside the token's release models",
              404: "no such release", 409: "refused by the lifecycle (the sentence a Slack user gets)",
              413: "body too large", 422: "invalid input, field by field", 429: "too many requests"}


def document(routes: list[Route]) -> dict[str, Any]:
    models: list[type[BaseModel]] = [schemas.Error]
    for route in routes:
        models += [m for m in (route.body, route.answer) if m is not None]
    unique = list(dict.fromkeys(models))
    keys, top = models_json_schema([(m, "validation") for m in unique], ref_template=REF)
    components = dict(top.get("$defs", {}))
    ref_of = {m: keys[(m, "validation")] for m in unique}

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": f"{route.method.lower()}_{route.path.removeprefix('/api/v1/').replace('/', '_')}"
                           .replace("{", "").replace("}", ""),
            "security": [{"bearer": []}],
            "responses": {str(route.created): {"description": "done",
                                               "content": {"application/json": {"schema": ref_of[route.answer]}}}},
        }
        parameters: list[dict[str, Any]] = []
        if "{ref}" in route.path:
            parameters.append({"name": "ref", "in": "path", "required": True, "description": "REL-n",
                               "schema": {"type": "string", "pattern": "^(REL-)?[0-9]+$"}})
        parameters += [{"name": p.name, "in": "query", "required": False, "description": p.description,
                        "schema": p.schema} for p in route.query]
        if route.method == "POST":
            parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                               "description": "a retry with the same key gets the first answer and changes nothing",
                               "schema": {"type": "string", "maxLength": 200}})
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {"application/json": {"schema": ref_of[route.body]}}}
        for status in sorted({401, 429, *route.statuses} | ({413} if route.method == "POST" else set())):
            operation["responses"][str(status)] = {
                "description": ERROR_TEXT.get(status, "error"),
                "content": {"application/json": {"schema": ref_of[schemas.Error]}}}
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "releasebot pipeline API", "version": __version__,
                 "description": "CI/CD pipelines plan, verify, gate and complete releases; Slack follows. "
                                "See docs/pipelines.md."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "releasebot token create NAME"}}},
    }
