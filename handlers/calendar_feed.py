"""`GET /calendar.ics?token=TOKEN`: the change schedule for calendar apps (DESIGN.md §8).

Calendar apps cannot send headers, so the token rides in the query string; it is never
logged. Missing or unknown → 401 and nothing read.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.calendar import CalendarAccess, CalendarService

log = logging.getLogger("releasebot.calendar")
PATH = "/calendar.ics"


def register(app: web.Application, calendar: CalendarService, access: CalendarAccess) -> None:
    async def feed(request: web.Request) -> web.Response:
        granted = await access(request.query.get("token", ""))
        if granted is None:
            return web.json_response({"error": "unauthorized",
                                      "message": "Give a valid token: /calendar.ics?token=TOKEN."}, status=401)
        body = await calendar.feed(granted)
        log.info("calendar feed for %s: %d bytes", granted.name, len(body))
        return web.Response(body=body, content_type="text/calendar", charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    app.router.add_get(PATH, feed)
