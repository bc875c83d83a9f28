"""Which release model a pipeline's release is of, when it does not say (DESIGN.md §7). Pure.

A model's `match: {services: [globs], environments: [globs]}` names what it is for; a model
matches a request when every list it names has a glob matching the request's field (a field
the request leaves out matches nothing); a model without `match` never matches, so adding
one is a decision, not an accident.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Glob = Annotated[str, Field(min_length=1, max_length=200)]


class Match(BaseModel):
    """`match:` of a release model: shell-style globs (`payments-*`, `prod?`), case-sensitive."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    services: list[Glob] | None = None
    environments: list[Glob] | None = None

    def matches(self, service: str | None, environment: str | None) -> bool:
        lists = [(self.services, service), (self.environments, environment)]
        named = [(globs, value) for globs, value in lists if globs is not None]
        if not named:
            return False
        return all(value is not None and any(fnmatchcase(value, g) for g in globs) for globs, value in named)


def candidates(models: Iterable[tuple[str, Match | None]], service: str | None,
               environment: str | None) -> list[str]:
    """The keys of the models whose `match` takes the request, sorted."""
    return sorted(key for key, match in models if match is not None and match.matches(service, environment))
