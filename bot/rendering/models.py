"""Release model communication as Slack shows it: the notice of a new version of a model."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.model_changes import Change
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered
from bot.rendering.refusals import mention


def change_line(change: Change) -> str:
    """A line of what changed, escaped, with the ids it names as mentions."""
    text = bk.escape(change.text)
    for conversation in change.ids:
        text = re.sub(rf"(?<![\w<@^#]){re.escape(conversation)}\b", mention(conversation), text)
    return text


def version_notice(key: str, name: str, old: str, new: str, lines: Sequence[Change]) -> Rendered:
    """Posted once to the model's audience when `serve` first loads a new version."""
    heading = f"Release model {key} changed: {old} → {new}"
    intro = (f"*{bk.escape(name)}* (`{key}`) is now version `{new}` (was `{old}`). New releases follow it; "
             "releases already planned keep the version they were planned with.")
    listed = ("\n".join(f"• {change_line(line)}" for line in lines)
              or "• nothing that changes a rule (wording or layout)")
    blocks = [bk.header(heading), bk.section(intro), *bk.paragraphs(f"*What changed*\n{listed}")]
    summary = bk.escape(f"{heading}. " + "; ".join(str(line) for line in lines))
    return Rendered(bk.message_text(summary), bk.cap(blocks))
