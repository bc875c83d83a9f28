"""Give the load generator a core of its own, and the servers under test (with their database)
the others, for the benchmarks that time acks from the client's side.

On a two-core machine the bench process (the clients timing every request, and the fake Slack)
competes for the CPU with whatever it measures. A bare Bolt app and its clients are two busy
processes on two cores; releasebot, its PostgreSQL backends and the clients are three, and the
clients' own event loop stalls now and then (seen: 124 ms, in one flood out of three), which
adds to every ack in flight and, with 50 in flight, to the p99. That stall is the measuring
process's, not the app's. Pinned, the clients keep core 0 whichever app they load, and each
app, with its database, has the same other core(s) to do its work on: its ack p99 then shows
the cost of its own work, database included.

Linux only (`os.sched_setaffinity`); elsewhere, with one core, or without the right to pin
PostgreSQL's processes, nothing is pinned and `Pinning.note` says so beside the figures.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pinning:
    """Which cores the clients have and which the servers have; `note` for the figures."""

    clients: frozenset[int]
    servers: frozenset[int]
    note: str

    def for_server(self) -> Callable[[], None] | None:
        """A `preexec_fn` pinning a server process (and every thread it starts) to its cores."""
        if not self.servers:
            return None
        cores = set(self.servers)
        return lambda: os.sched_setaffinity(0, cores)


def _all_cores() -> set[int]:
    return set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()


@contextmanager
def split(postgres_data: Path | None = None) -> Iterator[Pinning]:
    """Pin this process to one core and set the others aside for the servers (and the local
    PostgreSQL whose data directory is `postgres_data`); undone on the way out."""
    cores = sorted(_all_cores())
    if len(cores) < 2:
        yield Pinning(frozenset(), frozenset(), "not pinned: fewer than two cores")
        return
    clients, servers = {cores[0]}, set(cores[1:])
    ours = os.sched_getaffinity(0)
    pinned: dict[int, set[int]] = {}
    note = f"clients on core {cores[0]}, the app under test on {', '.join(map(str, sorted(servers)))}"
    try:
        if postgres_data is not None:
            try:
                pinned = _pin_tree(_postmaster(postgres_data), servers)
                note += ", with PostgreSQL"
            except (OSError, ValueError) as exc:
                note += f" (PostgreSQL not pinned: {exc})"
        os.sched_setaffinity(0, clients)
        yield Pinning(frozenset(clients), frozenset(servers), note)
    finally:
        os.sched_setaffinity(0, ours)
        for pid, mask in pinned.items():
            try:
                os.sched_setaffinity(pid, mask)
            except OSError:
                pass  # a backend that has ended since


def _postmaster(data: Path) -> int:
    return int((data / "postmaster.pid").read_text().split()[0])


def _pin_tree(root: int, cores: set[int]) -> dict[int, set[int]]:
    """Pin `root` and its children (PostgreSQL's backends fork from the postmaster and keep
    its mask, so later connections are pinned too); returns the masks to restore."""
    before: dict[int, set[int]] = {}
    for pid in [root, *_children(root)]:
        before[pid] = set(os.sched_getaffinity(pid))
        os.sched_setaffinity(pid, cores)
    return before


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found
