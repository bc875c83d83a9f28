"""Who is who: the members of user groups, behind a Slack-free interface.

Release models name approvers and survey recipients as users (U…/W…) and user groups (S…);
the use cases need plain sets of user ids. The Slack implementation lives in
`bot/slack/directory.py`; tests and the core only see this protocol.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class Directory(Protocol):
    async def members(self, group: str) -> frozenset[str]:
        """The user ids in user group `group` (empty if it cannot be read)."""
        ...


async def resolve(directory: Directory, users_and_groups: Iterable[str]) -> frozenset[str]:
    """Users as listed, plus the members of the listed groups."""
    people: set[str] = set()
    for entry in users_and_groups:
        if entry.startswith("S"):
            people |= await directory.members(entry)
        else:
            people.add(entry)
    return frozenset(people)
