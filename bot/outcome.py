"""What a use case answers, whichever surface asked (DESIGN.md §2).

Either it happened (`value`, the domain result), or it was refused (`refusal`: a stable
code and a plain sentence), or the input was invalid field by field (`errors`). Surfaces
render it: the Slack handlers as an ephemeral message or modal errors, the API as JSON
with a status. Nothing here is Slack markup: people are named by their ids in `people`,
which each surface renders its own way (a mention in Slack, the id in JSON).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Refusal:
    """Why something did not happen. `code` is stable (tests, the API's `error`); `message`
    is a sentence a person can act on; `people` are the user and user-group ids it names,
    written in `message` as the bare id."""

    code: str
    message: str
    people: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Outcome(Generic[T]):
    value: T | None = None
    refusal: Refusal | None = None
    errors: Mapping[str, str] = field(default_factory=dict)
    created: bool = False

    @property
    def ok(self) -> bool:
        return self.refusal is None and not self.errors

    @property
    def refused(self) -> bool:
        return self.refusal is not None

    @classmethod
    def success(cls, value: T, created: bool = False) -> Outcome[T]:
        return cls(value=value, created=created)

    @classmethod
    def refuse(cls, code: str, message: str, people: tuple[str, ...] = ()) -> Outcome[T]:
        return cls(refusal=Refusal(code, message, people))

    @classmethod
    def of(cls, refusal: Refusal) -> Outcome[T]:
        return cls(refusal=refusal)

    @classmethod
    def invalid(cls, errors: Mapping[str, str]) -> Outcome[T]:
        """Field errors, keyed by the domain's field names (`title`, `planned_start`, …)."""
        return cls(errors=dict(errors))

    def unwrap(self) -> T:
        assert self.value is not None, self.refusal or self.errors
        return self.value
