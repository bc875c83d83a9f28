"""The App Home tab: published afresh each time a person opens it (`app_home_opened`)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.context import Services
from bot.rendering.home import home_view
from handlers.slack.common import guarded


def register(app: AsyncApp, services: Services) -> None:
    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        """Bolt acknowledges events before this runs; a retried event publishes the same view."""
        if event.get("tab", "home") != "home":
            return  # the Messages tab: nothing to publish
        user = str(event["user"])

        async def work() -> None:
            home = await services.home.for_user(user)
            await client.views_publish(user_id=user, view=home_view(home, services.catalog))

        await guarded("publishing the App Home", None, work, user=user)
