"""What the fake workspace records: each Web API call (or response_url post) and the errors a
test has asked it to answer with. Shared by the sandbox and the test suite's fake Slack."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def ts(self) -> str:
        """The message's ts: what Slack answered to a post, or the ts an update targeted."""
        return str(self.params.get("ts") or self.result.get("ts"))

    @property
    def ok(self) -> bool:
        """Answered 200 with `"ok": true`: the call took effect."""
        return self.status == 200 and bool(self.result.get("ok", True))

    @property
    def channel(self) -> str:
        return str(self.result.get("channel") or self.params.get("channel"))

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return list(self.params.get("blocks") or [])

    def all_text(self) -> str:
        """The message text and every text inside its blocks, for content assertions."""
        return self.text + "\n" + json.dumps(self.blocks, ensure_ascii=False)

    def mrkdwn(self) -> str:
        """The text Slack parses for mentions and links: top-level text and mrkdwn objects."""
        found = [self.text]

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if node.get("type") == "mrkdwn":
                    found.append(str(node.get("text", "")))
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.blocks)
        return "\n".join(found)

    def buttons(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for block in self.blocks:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("type") == "button":
                    found.append(element)
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "button":
                found.append(accessory)
        return found

    def button(self, label: str) -> dict[str, Any]:
        for candidate in self.buttons():
            if candidate["text"]["text"] == label:
                return candidate
        raise AssertionError(f"no button {label!r} in {[b['text']['text'] for b in self.buttons()]}")


@dataclass
class Failure:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str]
    times: int
    when: Callable[[dict[str, Any]], bool] | None = None
