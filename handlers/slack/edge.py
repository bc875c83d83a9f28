"""The HTTP edge of the Slack surface: a request is signed, then well-formed, before Bolt sees it.

Bolt verifies signatures too, but it answers a signed request it cannot parse (a payload that
is not JSON, a `block_actions` without actions, a view without its type) with a 500 and a
traceback. Those are the sender's mistakes, so they get a 400 and one log line here; and the
signature is checked first, so nothing about an unsigned body is ever looked at.

The body is parsed here once, and Bolt is given what was read (`parsed`): parsing it again
cost every ack, and Bolt's own parser takes any form body that merely contains the word
"payload" (a release titled "Payload service", a channel named #payload-team) for an
interactive payload and reads an empty request from it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from slack_sdk.signature import SignatureVerifier

#: What each interactive payload type needs for its listeners to be reached at all.
_NEEDS: dict[str, tuple[str, ...]] = {
    "block_actions": ("actions", "user"),
    "view_submission": ("view", "user"),
    "view_closed": ("view", "user"),
    "shortcut": ("callback_id", "user"),
    "message_action": ("callback_id", "user"),
    "block_suggestion": ("action_id", "user"),
}


def signed(verifier: SignatureVerifier | None, body: str, headers: dict[str, str]) -> bool:
    """True for a request Slack signed within the last five minutes (or with no secret set:
    Socket Mode, where nothing comes in over HTTP)."""
    if verifier is None:
        return True
    timestamp = headers.get("X-Slack-Request-Timestamp", "").strip()
    if not timestamp.isdigit():
        return False
    return verifier.is_valid(body, timestamp, headers.get("X-Slack-Signature", ""))


class Malformed(ValueError):
    """A signed request that cannot be a Slack request; the message says why, in one line."""


def parsed(body: str, content_type: str) -> dict[str, Any]:
    """The request as Bolt reads it (the event, the interactive payload, or the slash command's
    fields), or `Malformed` when it has not the shape of a Slack request."""
    if content_type.startswith("application/json"):
        try:
            data = json.loads(body)
        except ValueError:
            raise Malformed("the body is not JSON") from None
        if not isinstance(data, dict) or "type" not in data:
            raise Malformed("an event without a type")
        return data
    form = dict(parse_qsl(body, keep_blank_values=True))
    if "payload" not in form:
        if "command" in form:
            missing = [k for k in ("user_id", "channel_id", "trigger_id") if not form.get(k)]
            if missing:
                raise Malformed(f"a command without {', '.join(missing)}")
            return form
        if "ssl_check" in form:
            return form
        raise Malformed("neither a command nor a payload")
    try:
        payload = json.loads(form["payload"])
    except ValueError:
        raise Malformed("the payload is not JSON") from None
    if not isinstance(payload, dict):
        raise Malformed("the payload is not an object")
    problem = _payload_problem(payload)
    if problem:
        raise Malformed(problem)
    return payload


def _payload_problem(payload: dict[str, Any]) -> str | None:
    kind = payload.get("type")
    needs = _NEEDS.get(str(kind))
    if needs is None:
        return None  # a type no listener handles: Bolt answers it as it does any other
    for key in needs:
        if not payload.get(key):
            return f"a {kind} payload without {key}"
    if not isinstance(payload["user"], dict) or not payload["user"].get("id"):
        return f"a {kind} payload without a user id"
    if kind == "block_actions":
        actions = payload["actions"]
        if not isinstance(actions, list) or not all(isinstance(a, dict) and a.get("action_id") for a in actions):
            return "a block_actions payload whose actions have no action_id"
    if kind in ("view_submission", "view_closed"):
        view = payload["view"]
        if not isinstance(view, dict) or not view.get("type") or not view.get("id"):
            return f"a {kind} payload whose view has no type or id"
        if kind == "view_submission" and not isinstance(view.get("state", {}), dict):
            return "a view_submission whose state is not an object"
    return None
