"""What the surfaces are given: the use cases, the catalog and the clock, nothing of storage."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.approvals import ApprovalService
from bot.calendar import CalendarService
from bot.catalog import Catalog
from bot.clock import Clock
from bot.communications import CommunicationService
from bot.freezes import FreezeService
from bot.home import HomeService
from bot.incidents import IncidentService
from bot.metrics import MetricsService
from bot.model_review import ModelReviewService
from bot.model_versions import ModelVersions
from bot.plans import PlanService
from bot.releases import ReleaseService
from bot.review import ReviewService
from bot.shared_reads import SharedReads
from bot.surveys import SurveyService
from bot.verification import VerificationService


@dataclass(frozen=True)
class Services:
    releases: ReleaseService
    approvals: ApprovalService
    surveys: SurveyService
    reviews: ReviewService
    verification: VerificationService
    catalog: Catalog
    clock: Clock
    metrics: MetricsService
    home: HomeService
    communications: CommunicationService
    plans: PlanService
    versions: ModelVersions
    freezes: FreezeService
    calendar: CalendarService
    incidents: IncidentService
    model_reviews: ModelReviewService
    #: Read commands' answers, shared by the people who asked before a reading began.
    reads: SharedReads = field(default_factory=SharedReads)
