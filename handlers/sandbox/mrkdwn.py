"""Slack mrkdwn and plain_text as safe HTML, the way the Slack client shows them.

Everything is escaped: the bot's text arrives Slack-escaped (`&lt;` for a typed `<`), is
unescaped once and HTML-escaped once, so `<script>` in a title is shown as text and never
runs. Only the control sequences Slack itself renders become markup: `<@U…>` mentions,
`<#C…>` channels, `<!subteam^S…>` groups, `<!here>`, `<!date^…>` dates in the viewer's time
zone, and `<url|label>` links (http, https and mailto only; anything else is shown as text).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from handlers.sandbox.directory import BOT_USER, Directory

EMOJI = {
    "white_check_mark": "✅", "x": "❌", "memo": "📝", "rocket": "🚀", "gear": "⚙️", "lock": "🔒",
    "warning": "⚠️", "no_entry": "⛔", "bell": "🔔", "wave": "👋", "hourglass_flowing_sand": "⏳",
    "large_green_circle": "🟢", "leftwards_arrow_with_hook": "↩️", "heavy_multiplication_x": "✖️",
    "speech_balloon": "💬", "spiral_calendar_pad": "🗓️", "alarm_clock": "⏰", "fast_forward": "⏩",
    "inbox_tray": "📥", "outbox_tray": "📤", "tada": "🎉", "thumbsup": "👍", "+1": "👍", "eyes": "👀",
    "calendar": "📆", "clipboard": "📋", "mag": "🔍", "star": "⭐", "fire": "🔥", "bulb": "💡",
    "red_circle": "🔴", "large_yellow_circle": "🟡", "construction": "🚧", "package": "📦",
    "chart_with_upwards_trend": "📈", "bar_chart": "📊", "stopwatch": "⏱️", "hammer_and_wrench": "🛠️",
    "information_source": "ℹ️", "heavy_check_mark": "✔️", "arrow_right": "➡️", "link": "🔗",
}
_CONTROL = re.compile(r"<([^<>\n]*)>")
_PRE = re.compile(r"```(.+?)```", re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![A-Za-z0-9_])_(?=\S)([^_\n]+?)(?<=\S)_(?![A-Za-z0-9_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_SAFE_URL = re.compile(r"(https?://|mailto:)[^\s\"'<>]+", re.IGNORECASE)
_SLOT = "\x00{}\x00"


@dataclass
class Viewer:
    """Who is looking: mentions are named from the directory, dates shown in their zone."""

    directory: Directory
    user: str = ""
    tz: str = "UTC"
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")


def unescape(text: str) -> str:
    """Slack's three entities back to characters (only these: Slack escapes nothing else)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def emoji(text: str) -> str:
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def plain_text(obj: dict[str, object] | str | None) -> str:
    """A `plain_text` (or any text object's `text`) as escaped HTML; `:emoji:` shown when asked."""
    if obj is None:
        return ""
    if isinstance(obj, str):
        return esc(obj)
    text = esc(str(obj.get("text", "")))
    return emoji(text) if obj.get("emoji", True) and obj.get("type") != "mrkdwn" else text


def text_object(obj: dict[str, object] | None, viewer: Viewer) -> str:
    """Either kind of text object as HTML."""
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn(str(obj.get("text", "")), viewer, verbatim=bool(obj.get("verbatim")))
    return plain_text(obj)


def mrkdwn(text: str, viewer: Viewer, *, verbatim: bool = False) -> str:
    text = text.replace("\x00", "")
    slots: list[str] = []

    def keep(fragment: str) -> str:
        slots.append(fragment)
        return _SLOT.format(len(slots) - 1)

    text = _PRE.sub(lambda m: keep(f"<pre class=\"mk-pre\">{esc(unescape(m.group(1).strip(chr(10))))}</pre>"), text)
    text = _CONTROL.sub(lambda m: keep(_control(m.group(1), viewer, verbatim)), text)
    text = _CODE.sub(lambda m: keep(f"<code>{esc(unescape(m.group(1)))}</code>"), text)
    out = emoji(esc(unescape(text)))
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    out = _ITALIC.sub(r"<em>\1</em>", out)
    out = _STRIKE.sub(r"<del>\1</del>", out)
    out = _quotes(out)
    out = out.replace("\n", "<br>")
    for index in range(len(slots) - 1, -1, -1):
        out = out.replace(_SLOT.format(index), slots[index])
    return out


def _quotes(out: str) -> str:
    lines = out.split("\n")
    rendered: list[str] = []
    for line in lines:
        if line.startswith("&gt; ") or line == "&gt;":
            rendered.append(f"<blockquote class=\"mk-quote\">{line[5:]}</blockquote>")
        else:
            rendered.append(line)
    return "\n".join(rendered).replace("</blockquote>\n", "</blockquote>")


def _control(inner: str, viewer: Viewer, verbatim: bool) -> str:
    target, _, label = inner.partition("|")
    shown = esc(unescape(label)) if label else ""
    directory = viewer.directory
    if target.startswith("@") and not verbatim:
        user = target[1:]
        me = " mk-me" if user == viewer.user else ""
        known = directory.person(user) is not None or user == BOT_USER
        name = esc(directory.name_of(user)) if known else shown or esc(user)
        return f"<span class=\"mk-mention{me}\" data-user=\"{esc(user)}\">@{name}</span>"
    if target.startswith("#") and not verbatim:
        channel = target[1:]
        name = esc(directory.channels[channel].name) if channel in directory.channels else shown or esc(channel)
        return f"<span class=\"mk-channel\" data-channel=\"{esc(channel)}\">#{name}</span>"
    if target.startswith("!subteam^"):
        group = target.removeprefix("!subteam^")
        name = esc(directory.group_handle(group)) if group in directory.groups else shown.lstrip("@") or esc(group)
        return f"<span class=\"mk-mention mk-group\">@{name}</span>"
    if target in ("!here", "!channel", "!everyone"):
        return f"<span class=\"mk-mention mk-broadcast\">@{esc(target[1:])}</span>"
    if target.startswith("!date^"):
        return _date(target, label, viewer)
    if _SAFE_URL.fullmatch(unescape(target)):
        href = unescape(target)
        return (f"<a href=\"{esc(href)}\" target=\"_blank\" rel=\"noopener noreferrer\">"
                f"{shown or esc(href)}</a>")
    return esc(unescape(f"<{inner}>")) if not label else shown


def _date(target: str, fallback: str, viewer: Viewer) -> str:
    parts = target.split("^")
    try:
        moment = datetime.fromtimestamp(int(parts[1]), UTC)
    except (IndexError, ValueError, OverflowError, OSError):
        return esc(unescape(fallback))
    fmt = parts[2] if len(parts) > 2 else "{date_short}"
    shown = format_date(moment, unescape(fmt), viewer)
    link = unescape(parts[3]) if len(parts) > 3 else ""
    iso = moment.isoformat()
    if link and _SAFE_URL.fullmatch(link):
        return (f"<a href=\"{esc(link)}\" target=\"_blank\" rel=\"noopener noreferrer\">"
                f"<time datetime=\"{esc(iso)}\">{esc(shown)}</time></a>")
    return f"<time datetime=\"{esc(iso)}\" title=\"{esc(viewer.tz)}\">{esc(shown)}</time>"


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def format_date(moment: datetime, fmt: str, viewer: Viewer) -> str:
    """Slack's date tokens (`{date_short_pretty}`, `{time}`, …) in the viewer's time zone."""
    local = moment.astimezone(viewer.zone)
    today = viewer.now.astimezone(viewer.zone).date()
    hour = local.strftime("%I").lstrip("0") or "12"
    tokens = {
        "date_num": local.strftime("%Y-%m-%d"),
        "date": f"{local:%B} {_ordinal(local.day)}, {local.year}",
        "date_short": f"{local:%b} {local.day}, {local.year}",
        "date_long": f"{local:%A}, {local:%B} {_ordinal(local.day)}, {local.year}",
        "time": f"{hour}:{local:%M} {local:%p}",
        "time_secs": f"{hour}:{local:%M}:{local:%S} {local:%p}",
    }
    relative = {today: "today", today - timedelta(days=1): "yesterday", today + timedelta(days=1): "tomorrow"}
    for kind in ("date", "date_short", "date_long"):
        tokens[f"{kind}_pretty"] = relative.get(local.date(), tokens[kind]).capitalize() \
            if local.date() in relative else tokens[kind]
    delta = viewer.now - moment
    tokens["ago"] = _ago(delta)
    return re.sub(r"\{(\w+)\}", lambda m: tokens.get(m.group(1), m.group(0)), fmt)


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            span = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {span}" if future else f"{span} ago"
    return "just now"
