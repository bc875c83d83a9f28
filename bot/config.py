"""Settings from the environment (and a `.env` file), as DESIGN.md §5 lists them.

The names are the outside contract: operators set them in their deployment, so they are
spelled exactly as documented and never prefixed. Every problem is reported as a sentence
that names the setting and says what to do, and all of them at once, so that a newcomer
fixes their `.env` in one go rather than one run per mistake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage import db

BUNDLED_MODELS = Path(__file__).parent / "release_models"

WHERE_TO_GET = {
    "SLACK_BOT_TOKEN": "copy the Bot User OAuth Token (xoxb-…) from your Slack app's "
    "OAuth & Permissions page",
    "SLACK_SIGNING_SECRET": "copy the Signing Secret from your Slack app's Basic Information page",
}
WHERE_TO_SET = "set it in the environment or in .env"


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line a person can act on."""


@dataclass(frozen=True)
class SettingProblem:
    """One setting that keeps the bot from working: which, and what to do about it."""

    setting: str
    message: str
    missing: bool = False

    def __str__(self) -> str:
        return f"{self.setting} {self.message}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    slack_bot_token: str = Field(default="", alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str = Field(default="", alias="SLACK_SIGNING_SECRET")
    slack_app_token: str = Field(default="", alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    database_url: str = Field(default="sqlite+aiosqlite:///./releasebot.db", alias="DATABASE_URL")
    releasebot_models: Path = Field(default=BUNDLED_MODELS, alias="RELEASEBOT_MODELS")
    port: int = Field(default=3000, alias="PORT", ge=0, le=65535)
    #: Release managers (DESIGN.md §6): comma-separated user (U…/W…) and user group (S…) ids.
    releasebot_managers: str = Field(default="", alias="RELEASEBOT_MANAGERS")

    @field_validator("releasebot_managers")
    @classmethod
    def _ids(cls, value: str) -> str:
        wrong = [p.strip() for p in value.split(",") if p.strip() and not re.match(r"^[UWS][A-Z0-9]{2,}$", p.strip())]
        if wrong:
            raise ValueError(f"{', '.join(wrong)}: give Slack user ids (U…/W…) or user group ids (S…), "
                             "comma-separated, e.g. U0123ALICE,S0123RELEASE")
        return value

    #: How times are read (`/release freeze 2026-12-24 …`) and shown (DESIGN.md §8).
    releasebot_timezone: str = Field(default="UTC", alias="RELEASEBOT_TIMEZONE")
    #: The calendar feed's token until the pipeline API's tokens serve it (DESIGN.md §8).
    releasebot_calendar_token: str = Field(default="", alias="RELEASEBOT_CALENDAR_TOKEN")
    #: How long a message Slack keeps refusing for a passing reason (5xx, timeouts, 429) is
    #: retried, counted from its due time, before it is marked failed: long enough to outlast
    #: an afternoon's outage.
    releasebot_delivery_give_up_hours: float = Field(default=24.0, alias="RELEASEBOT_DELIVERY_GIVE_UP_HOURS",
                                                     gt=0)

    @field_validator("releasebot_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name; write one like UTC or Europe/Berlin") from None
        return value

    @property
    def managers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(part.strip() for part in self.releasebot_managers.split(",") if part.strip()))

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        """`postgresql://` and `sqlite:///` as operators write them, mapped to the async drivers.
        A URL that cannot be used is kept as given: `problems` names it with the others."""
        try:
            return db.async_url(value)
        except ValueError:
            return value

    @property
    def delivery_give_up(self) -> timedelta:
        return timedelta(hours=self.releasebot_delivery_give_up_hours)

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.releasebot_timezone)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def database(self) -> str:
        """The database URL to show people: the password masked."""
        return db.shown(self.database_url)

    def problems(self, *, serving: bool = False, database: bool = False) -> list[SettingProblem]:
        """Everything wrong for what is about to happen: serving Slack, using the database."""
        found: list[SettingProblem] = []
        if serving:
            found += self._slack_problems()
            if not self.releasebot_models.is_dir():
                found.append(SettingProblem("RELEASEBOT_MODELS", f"names {self.releasebot_models}, which is not a "
                                            f"folder: start one with `releasebot models init "
                                            f"{self.releasebot_models}`, or correct RELEASEBOT_MODELS"))
        if database:
            found += self._database_problems()
        return found

    def require(self, *, serving: bool = False, database: bool = False) -> None:
        problems = self.problems(serving=serving, database=database)
        if problems:
            raise SettingsError(describe(problems))

    def require_serving(self) -> None:
        """Refuse to serve without the secrets Slack needs; Bolt would start and answer 500."""
        self.require(serving=True)

    def _slack_problems(self) -> list[SettingProblem]:
        found: list[SettingProblem] = []
        if not self.slack_bot_token:
            found.append(SettingProblem("SLACK_BOT_TOKEN", "is not set: " + WHERE_TO_GET["SLACK_BOT_TOKEN"],
                                        missing=True))
        elif not self.slack_bot_token.startswith("xox"):
            found.append(SettingProblem("SLACK_BOT_TOKEN", "does not look like a bot token (xoxb-…): "
                                        + WHERE_TO_GET["SLACK_BOT_TOKEN"]))
        if self.socket_mode:
            if not self.slack_app_token.startswith("xapp-"):
                found.append(SettingProblem("SLACK_APP_TOKEN", "must be an app-level token (xapp-…): create one "
                                            "under Basic Information → App-Level Tokens with connections:write"))
        elif not self.slack_signing_secret:
            found.append(SettingProblem("SLACK_SIGNING_SECRET", "is not set: " + WHERE_TO_GET["SLACK_SIGNING_SECRET"]
                                        + " (or set SLACK_APP_TOKEN to use Socket Mode)", missing=True))
        if not self.slack_api_url.startswith(("https://", "http://")):
            found.append(SettingProblem("SLACK_API_URL", f"{self.slack_api_url!r} is not a URL: leave it unset "
                                        "for https://slack.com/api/"))
        return found

    def _database_problems(self) -> list[SettingProblem]:
        try:
            url = db.async_url(self.database_url)
        except ValueError as exc:
            return [SettingProblem("DATABASE_URL", f"is not usable: {exc}")]
        folder = db.sqlite_folder_missing(url)
        if folder is not None:
            return [SettingProblem("DATABASE_URL", f"names a SQLite file in {folder}, which does not exist: "
                                   f"create the folder (mkdir -p {folder}) or point DATABASE_URL elsewhere")]
        return []


def describe(problems: list[SettingProblem]) -> str:
    """One line for any number of problems: every setting named, then where settings go."""
    if len(problems) == 1:
        problem = problems[0]
        return f"{problem}, and {WHERE_TO_SET}" if problem.missing else str(problem)
    where = "; set them in the environment or in .env" if any(p.missing for p in problems) else ""
    return "; ".join(str(p) for p in problems) + where


def load_settings() -> Settings:
    """Read the settings, turning pydantic's report into one line naming every bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = [SettingProblem(".".join(str(p) for p in err["loc"]), _readable(err)) for err in exc.errors()]
        raise SettingsError(describe(problems)) from None


def _readable(err: object) -> str:
    assert isinstance(err, dict)
    value = err.get("input")
    message = str(err.get("msg", "")).removeprefix("Value error, ")
    if err.get("loc") == ("PORT",):
        return f"is {value!r}: write a port number from 1 to 65535"
    if err.get("loc") == ("RELEASEBOT_DELIVERY_GIVE_UP_HOURS",):
        return f"is {value!r}: write a number of hours above 0, e.g. 24"
    return f"is {value!r}: {message}"
