"""What a request needs before it may be submitted: the instrument table's required fields, the
power check, and consistency rules. One function, used by the submit service (which enforces it)
and by the form (which shows its answers next to the fields)."""

from datetime import date

from . import instruments as I
from .models import Attachment, LegalRequest

FIELD_LABELS = {
    I.CASE_REFERENCE: "a case or file reference",
    I.LEGAL_BASIS: "the legal basis",
    I.OFFENCE: "the offence",
    I.REASONS: "a statement of reasons",
    I.REDRESS: "information about redress",
    I.TERRITORIAL_SCOPE: "the territorial scope",
    I.EMERGENCY_JUSTIFICATION: "the emergency justification (the imminent threat)",
}


def submission_problems(request: LegalRequest, *, today: date) -> dict[str, list[str]]:
    rule = I.rule_for(request.instrument)
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    for field, label in FIELD_LABELS.items():
        if field in rule.required and not str(getattr(request, field) or "").strip():
            add(field, f"{rule.label} needs {label}.")
    emergency = I.is_emergency(request.instrument, request.is_emergency)
    if emergency and not request.emergency_justification.strip():
        add(
            I.EMERGENCY_JUSTIFICATION,
            "An emergency request must describe the imminent threat to life, physical integrity "
            "or safety, or to critical infrastructure.",
        )
    if I.TARGETS in rule.required and not request.targets.exists():
        add("targets", f"{rule.label} needs at least one target identifier.")
    if I.DATA_CATEGORIES in rule.required and not request.data_categories:
        add("data_categories", "Choose the categories of data requested.")
    if I.PERIOD in rule.required:
        if not (request.period_start and request.period_end):
            add("period_start", "Give the time period the data concerns (from and to).")
        elif request.period_start > request.period_end:
            add("period_end", "The period ends before it starts.")
        elif request.period_start > today:
            add("period_start", "The period starts in the future.")
    if request.confidential and request.confidential_until and request.confidential_until < today:
        add("confidential_until", "The confidentiality end date is in the past.")
    if (
        I.DOCUMENTS in rule.required
        and not request.attachments.filter(purpose=Attachment.Purpose.ORDER).exists()
    ):
        add("documents", f"Attach the signed {rule.label} document (PDF).")
    power = I.power_problems(
        authority=request.authority,
        instrument=request.instrument,
        categories=list(request.data_categories),
        validating_authority=request.validating_authority,
        emergency=emergency,
        threshold_met=request.threshold_met,
    )
    for field, messages in power.items():
        for message in messages:
            add(field, message)
    return problems
