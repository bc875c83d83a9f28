"""`releasebot report model MODEL [--period 90d]`: the release model review as Markdown on
stdout, for the people who keep release models in Git (`… > review.md`, then a pull request
that changes the model). The same figures as `/release model-review`, read from the database
the settings name; nothing is written and nothing goes to Slack."""

from __future__ import annotations

import re

from bot.catalog import Catalog
from bot.clock import utcnow
from bot.config import Settings, SettingsError
from bot.metrics import MAX_DAYS
from bot.model_review import ModelReviewService
from bot.rendering.model_review import model_review_markdown
from handlers.database import opened
from storage import db
from storage.uow import UnitOfWorkFactory

_PERIOD = re.compile(r"^(\d{1,6})d$")


def period_days(text: str) -> int:
    match = _PERIOD.match(text.strip().lower())
    if not match or not 1 <= int(match.group(1)) <= MAX_DAYS:
        raise SettingsError(f"--period {text!r}: write a number of days and d, from 1d to {MAX_DAYS}d (e.g. 90d)")
    return int(match.group(1))


async def model_report(settings: Settings, catalog: Catalog, model_key: str, period: str) -> str:
    days = period_days(period)
    if catalog.get(model_key) is None:
        raise SettingsError(f"there is no release model {model_key!r} in {catalog.folder}; "
                            f"use one of: {', '.join(catalog.keys)}")
    async with opened(settings) as engine:
        service = ModelReviewService(UnitOfWorkFactory(db.sessionmaker(engine)), catalog, utcnow, None)
        review = await service.report(model_key, days)
    return model_review_markdown(review)
