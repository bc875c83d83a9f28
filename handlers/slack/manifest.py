"""The Slack app manifest a team creates the app from (`releasebot manifest`)."""

from __future__ import annotations

from typing import Any

SCOPES = [
    # Reading back the bot's own posts after a crash, so none is posted twice
    # (bot/delivery_check.py): conversations.history in each kind of conversation.
    "channels:history",
    "channels:read",     # member_joined_channel in public channels; `releasebot doctor` looks channels up
    "commands",          # /release
    "chat:write",        # cards, approval requests, announcements, reminders
    "chat:write.public", # announce in public channels the bot was not invited to
    "files:write",       # the model review's chart (files upload v2)
    "groups:history",
    "groups:read",       # the same in private channels
    "im:history",
    "im:write",          # direct messages: reminders and surveys
    "mpim:history",
    "usergroups:read",   # approvers and survey recipients given as user groups
    "users:read",        # time zones and names
]

EVENTS = ["app_home_opened", "member_joined_channel"]


def manifest(base_url: str, socket_mode: bool) -> dict[str, Any]:
    """The manifest; `base_url` (https, with a host) is where Slack sends requests over HTTP,
    and is not used in Socket Mode."""
    events_url = base_url.rstrip("/") + "/slack/events"
    command: dict[str, Any] = {
        "command": "/release",
        "description": "Plan, approve and follow releases",
        "usage_hint": "help | new [MODEL] [TITLE] | list | show | submit | verify | start | incident | metrics …",
        # Mentions arrive as ids (`<@U…|dave>`), so `/release owner REL-n @dave` names a person
        # (DESIGN.md §6).
        "should_escape": True,
    }
    settings: dict[str, Any] = {
        "interactivity": {"is_enabled": True},
        "event_subscriptions": {"bot_events": EVENTS},
        "org_deploy_enabled": False,
        "socket_mode_enabled": socket_mode,
    }
    if not socket_mode:
        command["url"] = events_url
        settings["interactivity"]["request_url"] = events_url
        settings["event_subscriptions"]["request_url"] = events_url
    return {
        "display_information": {
            "name": "releasebot",
            "description": "ITIL 4 release management: plan, approve, verify and review releases.",
            "background_color": "#2c3e50",
        },
        "features": {
            "app_home": {"home_tab_enabled": True, "messages_tab_enabled": True,
                         "messages_tab_read_only_enabled": False},
            "bot_user": {"display_name": "releasebot", "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": SCOPES}},
        "settings": settings,
    }
