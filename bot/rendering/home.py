"""The App Home tab as a Block Kit `home` view, held to the surface's limits.

A Home view takes at most 100 blocks and has no submit or close; the lists are already
capped by the query (bot/home.py) and say how many more there are, and `bk.cap` guards the
total whatever changes above.
"""

from __future__ import annotations

from bot.catalog import Catalog
from bot.home import Home
from bot.records import ReleaseRecord
from bot.rendering import blocks as bk
from bot.rendering.freezes import freeze_line
from bot.rendering.messages import state_badge, where
from bot.rendering.metrics import metrics_blocks

TITLE_SHOWN = 80


def _title(release: ReleaseRecord) -> str:
    return bk.escape(bk.truncate(release.title, TITLE_SHOWN))


def _mine(release: ReleaseRecord) -> bk.Block:
    return bk.section(
        f"*{release.ref}* {_title(release)}\n{state_badge(release.state)} · `{release.model_key}` · "
        f"window {bk.slack_date(release.planned_start)}")


def _awaiting(release: ReleaseRecord, catalog: Catalog) -> bk.Block:
    model = catalog.get(release.model_key)
    decide = f" · decide in {where(model.approval.channel)}" if model else ""
    return bk.section(
        f"*{release.ref}* {_title(release)}\nrequested by {bk.user(release.owner)} · `{release.model_key}` · "
        f"window {bk.slack_date(release.planned_start)}{decide}")


def _more(shown: int, total: int, hint: str = "") -> list[bk.Block]:
    if total <= shown:
        return []
    return [bk.context(f"…and {total - shown} more{hint}")]


def home_view(home: Home, catalog: Catalog) -> bk.Block:
    blocks: list[bk.Block] = [
        *metrics_blocks(home.metrics, catalog),
        bk.divider(),
        bk.header(f"Awaiting your approval ({home.awaiting_total})"),
    ]
    if home.awaiting:
        blocks += [_awaiting(r, catalog) for r in home.awaiting]
        blocks += _more(len(home.awaiting), home.awaiting_total)
    else:
        blocks.append(bk.section("Nothing is waiting for your decision."))
    blocks += [bk.divider(), bk.header(f"Your releases ({home.mine_total})")]
    if home.mine:
        blocks += [_mine(r) for r in home.mine]
        blocks += _more(len(home.mine), home.mine_total, " · `/release list mine`")
    else:
        blocks.append(bk.section("You own no releases yet. Plan one with `/release new`."))
    if home.freezes:
        blocks += [bk.divider(), bk.header("Freezes of the change schedule"),
                   bk.section("\n".join(freeze_line(f) for f in home.freezes))]
    blocks.append(bk.context(f"Updated {bk.slack_date(home.at)} · refreshed each time you open this tab"))
    return {"type": "home", "blocks": bk.cap(blocks, bk.SURFACE_BLOCKS)}
