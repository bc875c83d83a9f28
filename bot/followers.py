"""What follows an event of a release, declared in one table (DESIGN.md §2), and what runs
once at the end of a transaction that changed a release (`at_end`: the card).

Each follower runs in the transaction of the event it follows, in this order, so the
messages an event causes are committed with it. Adding a capability that reacts to the
lifecycle means adding a row here, not a hook inside some service's constructor. Each reads
the release model as the release keeps it (its version), never the file as it is now.
"""

from __future__ import annotations

from bot.approvals import DECISIONS, REQUEST_EVENTS, ApprovalRequests
from bot.cards import ReleaseCards
from bot.catalog import Catalog
from bot.clashes import ClashFinder, ClashNotices
from bot.communication_plan import CommunicationPlanner
from bot.lifecycle import EventKind
from bot.model_versions import ModelVersions
from bot.plans import PlanFollowers
from bot.review import ReviewReports
from bot.standard_changes import pre_authorize
from bot.transitions import AtEnd, Follower
from bot.verification import ready_without_checks


def followers(catalog: Catalog, versions: ModelVersions, cards: ReleaseCards,
              reports: ReviewReports, clash_finder: ClashFinder | None = None) -> list[Follower]:
    requests = ApprovalRequests(versions, clash_finder)
    plans = PlanFollowers(catalog)
    return [
        # The communication plan queues what the event calls for and withdraws what it voids.
        Follower("communications", None, CommunicationPlanner(catalog, versions).after),
        # The approval request is posted on submission and kept current as decisions arrive.
        Follower("approval request", REQUEST_EVENTS | {EventKind.SUBMITTED}, requests.follow),
        # The owner hears of the decision by direct message.
        Follower("decision to the owner", DECISIONS, requests.tell_owner),
        # A pre-authorized model's release is approved on submission, without a person.
        Follower("pre-authorization", frozenset({EventKind.SUBMITTED}), pre_authorize(versions)),
        # Approved with nothing to verify: ready at once (a further decision, applied in turn).
        Follower("ready without checks", frozenset({EventKind.APPROVED}), ready_without_checks(versions)),
        # A plan changed after approval: the approvers who approved hear of it; a model that asks
        # for approval again withdraws their approvals (a further decision, applied in turn).
        Follower("plan change to the approvers", frozenset({EventKind.PLAN_CHANGED}), plans.after_change),
        # A window moved into a freeze or onto another release's components: the owner hears of it.
        *([Follower("clash notice", frozenset({EventKind.WINDOW_CHANGED}), ClashNotices(clash_finder).follow)]
          if clash_finder else []),
        # A posted review shows the release closed or rolled back (and how).
        Follower("release review", frozenset({EventKind.CLOSED, EventKind.ROLLED_BACK,
                                               EventKind.ROLLBACK_PLAN_NOTED}), reports.follow),
    ]


def at_end(cards: ReleaseCards) -> list[AtEnd]:
    # The card shows the release as it now is, whatever happened in the transaction.
    return [cards.refresh]
