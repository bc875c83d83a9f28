"""Charts where people would rather look than read: the outcomes per week of a release
model review, as a PNG drawn with matplotlib's Agg backend (no display, no GUI toolkit).

The same numbers always go out as text beside the image, for screen readers and for those
who read Slack without images.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

#: Outcomes in the order they are stacked, with the colours people expect of them.
SERIES = (("released", "#2e7d32"), ("failed", "#c62828"), ("rolled_back", "#ef6c00"), ("other", "#9e9e9e"))


@dataclass(frozen=True)
class WeekOutcomes:
    """Releases planned in one week (from `start`) and what came of them."""

    start: date
    released: int = 0
    failed: int = 0
    rolled_back: int = 0
    #: Rejected, cancelled or still open.
    other: int = 0

    @property
    def total(self) -> int:
        return self.released + self.failed + self.rolled_back + self.other


def outcomes_chart(weeks: Sequence[WeekOutcomes], title: str) -> bytes:
    """A stacked bar chart of the outcomes per week, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.6), dpi=100)
    axes = figure.subplots()
    labels = [w.start.strftime("%d %b") for w in weeks]
    positions = list(range(len(weeks)))
    bottom = [0] * len(weeks)
    for name, colour in SERIES:
        values = [getattr(w, name) for w in weeks]
        axes.bar(positions, values, bottom=bottom, color=colour, label=name.replace("_", " "), width=0.7)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_xticks(positions, labels, rotation=45, ha="right", fontsize=8)
    axes.set_ylabel("releases planned")
    axes.set_title(title, fontsize=10)
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize=8, loc="upper left", frameon=False)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def outcomes_text(weeks: Sequence[WeekOutcomes]) -> list[str]:
    """The chart's numbers, one line per week."""
    return [f"Week of {w.start.isoformat()}: {w.total} planned · {w.released} released · {w.failed} failed · "
            f"{w.rolled_back} rolled back · {w.other} other" for w in weeks]
