"""What every benchmark reports: a figure beside its baseline and its bound.

The machines these run on are noisy, so a figure is printed as a ratio to a baseline measured
in the same run (a bare Bolt app, Slack's own limit, the time a message was due), and judged
against the bound the issue or the README sets for that ratio or value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure: `value` in `unit`, judged against `bound` (in the same unit).

    `baseline` is what `value` is compared to in this run (None when the bound is absolute);
    `ratio_bound` says the bound applies to value/baseline rather than to value itself.
    """

    name: str
    value: float
    unit: str
    bound: float | None = None
    baseline: float | None = None
    ratio_bound: bool = False
    detail: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        if self.bound is None:
            return None
        measured = self.ratio if self.ratio_bound else self.value
        return measured is not None and measured <= self.bound

    def line(self) -> str:
        value = f"{self.value:,.1f} {self.unit}"
        base = f"  baseline {self.baseline:,.1f} {self.unit} ({self.ratio:.2f}x)" if self.ratio is not None else ""
        if self.bound is None:
            judged = ""
        else:
            bound = f"{self.bound:.2f}x" if self.ratio_bound else f"{self.bound:,.1f} {self.unit}"
            judged = f"  bound {bound}: {'met' if self.met else 'MISSED'}"
        detail = f"  ({self.detail})" if self.detail else ""
        return f"{self.name:<52} {value:>14}{base}{judged}{detail}"


def report(title: str, figures: list[Figure]) -> bool:
    """Print the figures under a title; True when every bounded figure met its bound."""
    print(f"== {title}")
    for figure in figures:
        print(figure.line())
    return all(f.met is not False for f in figures)
