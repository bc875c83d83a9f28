"""The Slack surface: thin adapters that parse a request, ack it, call a use case and render
its outcome. `register` wires every listener onto one Bolt app."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.context import Services
from handlers.slack import after_ack
from handlers.slack.after_ack import ResponseUrls


def register(bolt: AsyncApp, services: Services) -> ResponseUrls:
    """Wire every listener; returns the shared response_url session, for the app to close."""
    from handlers.slack import (
        approvals,
        commands,
        communications,
        events,
        home,
        plan,
        planning,
        review,
        rollback,
        surveys,
        verification,
        window,
    )

    for module in (commands, planning, approvals, verification, surveys, review, window, communications, home,
                   events, plan, rollback):
        module.register(bolt, services)
    return after_ack.install(bolt)
