"""What people type after a `/release` sub-command, read into what the use cases take."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.catalog import Catalog
from bot.metrics import DEFAULT_DAYS, MAX_DAYS, MetricsRequest
from bot.rendering.blocks import escape

_PERIOD = re.compile(r"^(\d{1,6})d$", re.IGNORECASE)


def parse_request(args: Sequence[str], catalog: Catalog, usage: str = "/release metrics [PERIOD] [MODEL]",
                  default_days: int = DEFAULT_DAYS) -> MetricsRequest | str:
    """`[PERIOD] [MODEL]` as typed after `/release metrics`, or a sentence saying what to type.

    PERIOD is a number of days and `d` (`30d`); MODEL a release model key. Either may be
    left out, and they may come in either order.
    """
    example = usage.split(" [", 1)[0].replace(" MODEL", "")
    usage = f"`{usage}`, e.g. `{example} 90d " + (catalog.keys[0] if catalog.keys else "standard") + "`"
    days: int | None = None
    model_key: str | None = None
    for typed in args:
        word, lowered = escape(typed), typed.lower()
        period = _PERIOD.match(lowered)
        if period or lowered[:1].isdigit() or lowered[:1] in "+-":
            if days is not None:
                return f"Give one period only. Try {usage}."
            if not period:
                return (f"“{word}” is not a period: write a number of days followed by `d`, such as "
                        f"`30d` or `90d`. Try {usage}.")
            days = int(period.group(1))
            if not 1 <= days <= MAX_DAYS:
                return f"“{word}” is out of range: the period is 1d to {MAX_DAYS}d. Try {usage}."
        else:
            if model_key is not None:
                return f"Give one release model only. Try {usage}."
            if catalog.get(lowered) is None:
                return (f"There is no release model “{word}”; use one of: "
                        f"{', '.join(f'`{k}`' for k in catalog.keys)}. Try {usage}.")
            model_key = lowered
    return MetricsRequest(days or default_days, model_key)
