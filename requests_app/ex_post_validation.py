"""The 48-hour clock of an emergency order issued without prior validation (e-Evidence
Art. 4(5); docs/instruments.md, "Emergency orders issued without prior validation").

`validation_state` is the one answer services, policies, alerts, pages and the produced-data
download ask. Pure: it reads the request's own fields, no query.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from . import instruments
from .models import LegalRequest, ValidationOutcome


class ValidationState(StrEnum):
    PENDING = "pending"  # the clock runs
    GRANTED = "granted"
    REFUSED = "refused"  # the validating authority refused: withdraw, delete
    LAPSED = "lapsed"  # 48 hours passed without a validation: withdraw, delete


@dataclass(frozen=True)
class Validation:
    state: ValidationState
    due_at: datetime  # the end of the 48 hours
    remind_at: datetime  # the reminder to the officer and the legal team
    # When the order failed (refusal recorded, or the end of the 48 hours); None otherwise.
    failed_at: datetime | None
    deleted: bool

    @property
    def failed(self) -> bool:
        """Refused or lapsed: no data may go out, the produced-data download is withdrawn."""
        return self.failed_at is not None

    @property
    def deletion_due(self) -> bool:
        return self.failed and not self.deleted


def validation_state(legal_request: LegalRequest, now: datetime) -> Validation | None:
    """None for a request that needed no ex post validation (validation_due_at is set at
    submission only for one that does: instruments.issued_without_prior_validation)."""
    due_at = legal_request.validation_due_at
    rule = instruments.RULES.get(legal_request.instrument)
    if due_at is None or rule is None or rule.ex_post_validation is None:
        return None
    remind_at = due_at - rule.ex_post_validation.period + rule.ex_post_validation.reminder
    deleted = legal_request.data_deleted_at is not None
    outcome = legal_request.validation_outcome
    if outcome == ValidationOutcome.GRANTED:
        return Validation(ValidationState.GRANTED, due_at, remind_at, None, deleted)
    if outcome == ValidationOutcome.REFUSED:
        failed_at = legal_request.validation_recorded_at or due_at
        return Validation(ValidationState.REFUSED, due_at, remind_at, failed_at, deleted)
    if now >= due_at:
        return Validation(ValidationState.LAPSED, due_at, remind_at, due_at, deleted)
    return Validation(ValidationState.PENDING, due_at, remind_at, None, deleted)
