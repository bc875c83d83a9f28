"""Settings from the environment (and a `.env` file), as DESIGN.md §5 lists them.

The names are the outside contract: operators set them in their deployment, so they are
spelled exactly as documented and never prefixed.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_MODELS = Path(__file__).parent / "release_models"

WHERE_TO_GET = {
    "SLACK_BOT_TOKEN": "copy the Bot User OAuth Token (xoxb-…) from your Slack app's "
    "OAuth & Permissions page",
    "SLACK_SIGNING_SECRET": "copy the Signing Secret from your Slack app's Basic Information page",
}


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line a person can act on."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    slack_bot_token: str = Field(default="", alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str = Field(default="", alias="SLACK_SIGNING_SECRET")
    slack_app_token: str = Field(default="", alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    database_url: str = Field(default="sqlite+aiosqlite:///./releasebot.db", alias="DATABASE_URL")
    releasebot_models: Path = Field(default=BUNDLED_MODELS, alias="RELEASEBOT_MODELS")
    port: int = Field(default=3000, alias="PORT", ge=1, le=65535)
    #: Release managers (DESIGN.md §6): user and user-group ids, comma-separated.
    releasebot_managers: str = Field(default="", alias="RELEASEBOT_MANAGERS")
    #: How times are read (`/release freeze 2026-12-24 …`) and shown (DESIGN.md §8).
    releasebot_timezone: str = Field(default="UTC", alias="RELEASEBOT_TIMEZONE")
    #: The calendar feed's token until the pipeline API's tokens serve it (DESIGN.md §8).
    releasebot_calendar_token: str = Field(default="", alias="RELEASEBOT_CALENDAR_TOKEN")

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
        return tuple(part.strip() for part in self.releasebot_managers.split(",") if part.strip())

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.releasebot_timezone)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    def require_serving(self) -> None:
        """Refuse to serve without the secrets Slack needs; Bolt would start and answer 500."""
        if not self.slack_bot_token:
            raise SettingsError(_missing("SLACK_BOT_TOKEN"))
        if not self.slack_bot_token.startswith("xox"):
            raise SettingsError("SLACK_BOT_TOKEN does not look like a bot token (xoxb-…): "
                                + WHERE_TO_GET["SLACK_BOT_TOKEN"])
        if self.socket_mode:
            if not self.slack_app_token.startswith("xapp-"):
                raise SettingsError("SLACK_APP_TOKEN must be an app-level token (xapp-…): create one "
                                    "under Basic Information → App-Level Tokens with connections:write")
        elif not self.slack_signing_secret:
            raise SettingsError(_missing("SLACK_SIGNING_SECRET"))


def _missing(name: str) -> str:
    return f"{name} is not set: {WHERE_TO_GET[name]}, and set it in the environment or in .env"


def load_settings() -> Settings:
    """Read the settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
