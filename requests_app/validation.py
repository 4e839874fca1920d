"""What a request needs before it may be submitted: the instrument table's required fields, the
power check, and consistency rules. One function, used by the submit service (which enforces it)
and by the form (which shows its answers next to the fields)."""

from datetime import date

from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import instruments, trust
from .models import Attachment, LegalRequest

FIELD_LABELS = {
    instruments.CASE_REFERENCE: _("a case or file reference"),
    instruments.LEGAL_BASIS: _("the legal basis"),
    instruments.OFFENCE: _("the offence"),
    instruments.REASONS: _("a statement of reasons"),
    instruments.REDRESS: _("information about redress"),
    instruments.TERRITORIAL_SCOPE: _("the territorial scope"),
    instruments.EMERGENCY_JUSTIFICATION: _("the emergency justification (the imminent threat)"),
}


def submission_problems(
    legal_request: LegalRequest,
    *,
    today: date,
    targets: list | None = None,
    has_order_document: bool | None = None,
) -> dict[str, list[str]]:
    """By field, what stops the submission. An unsaved request (the form's preview, before
    anything is stored) passes its targets and whether a signed document comes with it."""
    if targets is None:
        targets = list(legal_request.targets.all())
    if has_order_document is None:
        has_order_document = legal_request.attachments.filter(
            purpose=Attachment.Purpose.ORDER
        ).exists()
    rule = instruments.rule_for(legal_request.instrument)
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    for field, label in FIELD_LABELS.items():
        if field in rule.required and not str(getattr(legal_request, field) or "").strip():
            add(
                field,
                gettext("%(instrument)s needs %(what)s.")
                % {"instrument": rule.label, "what": label},
            )
    emergency = instruments.is_emergency(legal_request.instrument, legal_request.is_emergency)
    # Said once: an instrument that requires the justification has just said it is missing.
    if (
        emergency
        and not legal_request.emergency_justification.strip()
        and instruments.EMERGENCY_JUSTIFICATION not in problems
    ):
        add(
            instruments.EMERGENCY_JUSTIFICATION,
            gettext(
                "An emergency request must describe the imminent threat to life, physical "
                "integrity or safety, or to critical infrastructure."
            ),
        )
    if instruments.TARGETS in rule.required and not targets:
        add(
            "targets",
            gettext("%(instrument)s needs at least one target identifier.")
            % {"instrument": rule.label},
        )
    if instruments.DATA_CATEGORIES in rule.required and not legal_request.data_categories:
        add("data_categories", gettext("Choose the categories of data requested."))
    if instruments.PERIOD in rule.required:
        if not (legal_request.period_start and legal_request.period_end):
            add("period_start", gettext("Give the time period the data concerns (from and to)."))
        elif legal_request.period_start > legal_request.period_end:
            add("period_end", gettext("The period ends before it starts."))
        elif legal_request.period_start > today:
            add("period_start", gettext("The period starts in the future."))
    if (
        legal_request.confidential
        and legal_request.confidential_until
        and legal_request.confidential_until < today
    ):
        add("confidential_until", gettext("The confidentiality end date is in the past."))
    if instruments.DOCUMENTS in rule.required and not has_order_document:
        add(
            "documents",
            gettext("Attach the signed %(instrument)s document (PDF).")
            % {"instrument": rule.label},
        )
    elif legal_request.pk and (unsigned := trust.required_signature_problem(legal_request)):
        # PORTAL_SIGNATURE_REQUIRED_INSTRUMENTS; a stored draft only: the form's preview has
        # no checked document yet.
        add("documents", unsigned)
    power = instruments.power_problems(
        authority=legal_request.authority,
        instrument=legal_request.instrument,
        categories=list(legal_request.data_categories),
        validating_authority=legal_request.validating_authority,
        emergency=emergency,
        threshold_met=legal_request.threshold_met,
    )
    notification = instruments.notification_problems(
        instrument=legal_request.instrument,
        categories=list(legal_request.data_categories),
        notified=legal_request.enforcing_notified,
        statement=legal_request.art8_2_statement,
        enforcing_authority=legal_request.enforcing_authority,
        enforcing_state=settings.PORTAL_ENFORCING_STATE,
    )
    for field, messages in (*power.items(), *notification.items()):
        for message in messages:
            add(field, message)
    return problems
