"""The one answer to "is this preservation running, and what may happen to it now": services,
policies, alerts and pages all ask `preservation_state` (docs/instruments.md, "Preservation").

Pure: it reads the request's own fields (no query), so the deadline sweep asks it for a
thousand rows at no cost. The lifecycle's numbers are the instrument's PreservationRule.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from . import instruments
from .models import LegalRequest, Status


class PreservationState(StrEnum):
    RUNNING = "running"  # within its 60 days (90 once extended)
    UNTIL_PRODUCTION = "until_production"  # Annex V: kept until the production request is met
    ANSWERED = "answered"  # the legal team closed or answered the order; it lapses on its date
    LAPSED = "lapsed"  # the period ran out: delete the data (Art. 11(1))
    ENDED = "ended"  # the issuing authority ended it or withdrew the order (Art. 11(3))
    DELETED = "deleted"  # the legal team recorded the deletion
    NOT_PRESERVED = "not_preserved"  # the platform refused the order: nothing was kept


# The statuses in which the legal team still holds the order open: the issuing authority may
# extend it or confirm a production request. In the others (answered, closed) it only lapses.
OPEN_FOR_AUTHORITY = frozenset(
    {Status.SUBMITTED, Status.IN_REVIEW, Status.CLARIFICATION, Status.PRESERVED}
)


@dataclass(frozen=True)
class Preservation:
    state: PreservationState
    until: datetime | None  # when it lapses (None: no end, or over)
    extended: bool
    may_extend: bool
    # When the data became due for deletion (the lapse, or the early end); None while they
    # must be kept.
    delete_from: datetime | None

    @property
    def active(self) -> bool:
        """The platform must keep the data now."""
        return self.state in (
            PreservationState.RUNNING,
            PreservationState.UNTIL_PRODUCTION,
            PreservationState.ANSWERED,
        )

    @property
    def open_to_authority(self) -> bool:
        """The issuing authority may still act on it (extend, confirm production, end)."""
        return self.state in (PreservationState.RUNNING, PreservationState.UNTIL_PRODUCTION)

    @property
    def deletion_due(self) -> bool:
        return self.delete_from is not None


def first_until(received_at: datetime, rule: instruments.PreservationRule) -> datetime:
    return received_at + timedelta(days=rule.days)


def extended_until(until: datetime, rule: instruments.PreservationRule) -> datetime:
    return until + timedelta(days=rule.extension_days)


def preservation_state(legal_request: LegalRequest, now: datetime) -> Preservation | None:
    """The preservation of this request at `now`, or None when it is not a preservation order
    (or still a draft).

    1. A refused order preserved nothing; a recorded deletion is final.
    2. An early end (Art. 11(3), or the order withdrawn) makes the data due for deletion then.
    3. A confirmed production request (Annex V) keeps the data without end date.
    4. Otherwise the data are kept until preservation_until (60 days from receipt, 90 once
       extended, Annex VI) and due for deletion from then.
    """
    rule = instruments.RULES.get(legal_request.instrument)
    lifecycle = rule.preservation if rule else None
    if lifecycle is None or legal_request.received_at is None:
        return None
    until = legal_request.preservation_until
    extended = legal_request.preservation_extended_at is not None
    ended_at = legal_request.preservation_ended_at

    def made(state, *, until=None, may_extend=False, delete_from=None) -> Preservation:
        return Preservation(state, until, extended, may_extend, delete_from)

    if legal_request.status == Status.REFUSED:
        return made(PreservationState.NOT_PRESERVED)
    if legal_request.data_deleted_at is not None:
        return made(PreservationState.DELETED)
    if ended_at is not None:
        return made(PreservationState.ENDED, delete_from=ended_at)
    if legal_request.production_reference:
        if legal_request.status not in OPEN_FOR_AUTHORITY:
            return made(PreservationState.ANSWERED)
        return made(PreservationState.UNTIL_PRODUCTION)
    if until is None:  # a row from before this field was kept: the rule's first period
        until = first_until(legal_request.received_at, lifecycle)
    if now >= until:
        return made(PreservationState.LAPSED, until=until, delete_from=until)
    if legal_request.status not in OPEN_FOR_AUTHORITY:
        return made(PreservationState.ANSWERED, until=until)
    return made(PreservationState.RUNNING, until=until, may_extend=not extended)
