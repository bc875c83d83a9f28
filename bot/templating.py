"""Renders Jinja2 templates into mrkdwn, in the sandbox, with typed text made inert.

Templates may be written by the teams that own release models (a `templates/` folder beside
the model files overrides the bundled one of the same name), so they render in Jinja2's
SandboxedEnvironment. Every value that reaches the output is escaped for mrkdwn unless it is
`Markup` (text the bot itself formatted, such as Slack date tokens and mentions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from bot.blocks import escape


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return escape(value)


class Templates:
    def __init__(self, models_folder: Path | None = None):
        loaders: list[Any] = []
        if models_folder is not None:
            loaders.append(FileSystemLoader(str(models_folder / "templates")))
        loaders.append(PackageLoader("templates", "."))
        self.env = SandboxedEnvironment(
            loader=ChoiceLoader(loaders), autoescape=False, finalize=_finalize, undefined=StrictUndefined,
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
        )

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(f"{name}.md.j2").render(**context).strip()


def safe(text: str) -> Markup:
    """Mark text the bot formatted (mentions, dates) as already fit for mrkdwn."""
    return Markup(text)  # noqa: S704 - only for text the bot built itself
