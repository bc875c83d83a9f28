"""What the handlers are given: the use cases and the catalog, nothing of storage."""

from __future__ import annotations

from dataclasses import dataclass

from bot.announcements import CommunicationService
from bot.catalog import Catalog
from bot.clock import Clock
from bot.service import ReleaseService


@dataclass(frozen=True)
class Services:
    releases: ReleaseService
    catalog: Catalog
    clock: Clock
    communications: CommunicationService
