"""Actions on legal requests. Each is atomic, writes an event row in the same transaction, and
queues its e-mails in the outbox (requests_app.notifications)."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from authorities import second_factor
from portal.logs import bind_reference

from . import alerts, instruments, policies, risk
from .lifecycle import ceil_minute, in_english, notify_authority, recompute_due_at, transition
from .models import (
    Attachment,
    LegalRequest,
    Message,
    ReferenceCounter,
    RequestEvent,
    RequestTarget,
    Status,
)
from .notifications import Email, notice_context, notifications_enqueue
from .uploads import CheckedFile
from .validation import submission_problems

# Fields an officer fills in; everything else (status, authority, dates...) is set by services.
OFFICER_FIELDS = (
    "case_reference",
    "legal_basis",
    "offence",
    "threshold_met",
    "data_categories",
    "period_start",
    "period_end",
    "statement_of_reasons",
    "redress_information",
    "territorial_scope",
    "confidential",
    "confidential_until",
    "is_emergency",
    "emergency_justification",
    "validating_authority",
    "enforcing_notified",
    "enforcing_authority",
    "art8_2_statement",
    "language",
)


# --- Drafts -----------------------------------------------------------------------------------


@transaction.atomic
def legal_request_save_draft(
    *,
    officer,
    instrument: str,
    data: dict,
    targets: list[tuple[str, str]],
    legal_request: LegalRequest | None = None,
) -> LegalRequest:
    """Create or update a draft with the officer's fields (only OFFICER_FIELDS are read, so an
    extra posted field such as status or authority changes nothing)."""
    if block := policies.submit_block(officer):
        raise PermissionDenied(block)
    if instrument not in instruments.RULES:
        raise ValidationError(gettext("Unknown instrument."))
    values = {name: data[name] for name in OFFICER_FIELDS if name in data}
    if legal_request is None:
        legal_request = LegalRequest.objects.create(
            instrument=instrument, authority=officer.authority, officer=officer, **values
        )
        RequestEvent.objects.create(
            request=legal_request, kind=RequestEvent.Kind.CREATED, actor=officer
        )
    else:
        legal_request = LegalRequest.objects.select_for_update().get(pk=legal_request.pk)
        policies.check(officer, "edit_draft", legal_request)
        for name, value in values.items():
            setattr(legal_request, name, value)
        legal_request.save()
    RequestTarget.objects.filter(request=legal_request).delete()
    RequestTarget.objects.bulk_create(
        RequestTarget(request=legal_request, kind=kind, value=value) for kind, value in targets
    )
    return legal_request


@transaction.atomic
def attachment_add(
    *,
    legal_request: LegalRequest,
    user,
    uploaded,
    checked: CheckedFile,
    purpose: str = Attachment.Purpose.ORDER,
    message: Message | None = None,
) -> Attachment:
    """Store a checked document under a random name. Order documents only on drafts; later
    documents come with a message, so a submitted order never changes silently."""
    if purpose == Attachment.Purpose.ORDER and legal_request.status != Status.DRAFT:
        raise PermissionDenied(
            gettext("Documents of a submitted order cannot change; send a message.")
        )
    attachment = Attachment(
        request=legal_request,
        message=message,
        purpose=purpose,
        uploaded_by=user,
        original_name=uploaded.name[:255],
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        pages=checked.pages,
        checks={"type_by_content": checked.kind, "parsed": True, "pages": checked.pages},
    )
    attachment.file.save("upload", uploaded, save=False)
    attachment.save()
    if legal_request.status != Status.DRAFT:
        RequestEvent.objects.create(
            request=legal_request,
            kind=RequestEvent.Kind.ATTACHMENT_ADDED,
            actor=user,
            detail=attachment.original_name,
        )
    return attachment


@transaction.atomic
def attachment_remove_from_draft(
    *, legal_request: LegalRequest, user, attachment: Attachment
) -> None:
    policies.check(user, "edit_draft", legal_request)
    attachment.file.delete(save=False)
    attachment.delete()


# --- Submission -------------------------------------------------------------------------------


def _next_reference(year: int) -> str:
    try:
        with transaction.atomic():
            ReferenceCounter.objects.get_or_create(year=year)
    except IntegrityError:
        pass  # created by a concurrent submission: lock it below
    counter = ReferenceCounter.objects.select_for_update().get(year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"LR-{year}-{counter.last:06d}"


@transaction.atomic
def legal_request_submit(
    *, officer, legal_request: LegalRequest, ip: str | None = None, device_id: str = ""
) -> LegalRequest:
    """Submit a draft: check it, number it, start the legal clock, tell both sides.

    1. Lock the draft; only its officer, approved and in good standing, may submit it.
    2. Check it (validation.submission_problems); any problem raises ValidationError by field.
       An emergency from a session not verified with a passkey (device_id) raises
       PasskeyRequired, when settings.PORTAL_PHISHING_RESISTANT_FOR asks for it.
    3. Give it a reference, received_at = now, due_at from the instrument's rule.
    4. Write the submission event; store the risk signals as they are now (risk.py).
    5. Queue the acknowledgment to the officer (DSA: confirm receipt) and, for emergency and
       TCO requests, the immediate alert to the legal team.
    """
    legal_request = LegalRequest.objects.select_for_update().get(pk=legal_request.pk)
    policies.check(officer, "submit", legal_request)
    now = timezone.now()
    problems = submission_problems(legal_request, today=now.date())
    if problems:
        raise ValidationError(problems)

    emergency = instruments.is_emergency(legal_request.instrument, legal_request.is_emergency)
    # Fake emergency requests come from phished police accounts: an emergency needs a session
    # verified with a passkey (device_id is the session's second factor), not a phishable code.
    if (
        emergency
        and second_factor.requires_phishing_resistant(second_factor.EMERGENCY_SUBMIT)
        and not second_factor.device_id_is_phishing_resistant(device_id, officer)
    ):
        raise second_factor.PasskeyRequired(second_factor.EMERGENCY_SUBMIT)
    fields = {
        "reference": _next_reference(now.year),
        "received_at": now,
        "is_emergency": emergency,
        "submitted_ip": ip,
        "submitted_device": device_id[:100],
    }
    hold = instruments.rule_for(legal_request.instrument).hold_for(emergency=emergency)
    if legal_request.enforcing_notified and hold is not None:
        # e-Evidence Art. 10(2), 12(1): the enforcing authority's window, from receipt.
        fields["hold_until"] = ceil_minute(now + hold)
    if legal_request.instrument == instruments.Instrument.EPOC_PR:
        fields["preservation_until"] = now + timedelta(days=settings.PORTAL_PRESERVATION_DAYS)
    transition(
        legal_request=legal_request,
        to=Status.SUBMITTED,
        actor=officer,
        kind=RequestEvent.Kind.SUBMITTED,
        **fields,
    )
    bind_reference(fields["reference"])  # the rest of this submission's log lines name it
    RequestEvent.objects.filter(request=legal_request, kind=RequestEvent.Kind.SUBMITTED).update(
        at=now
    )
    # Stored now, in this transaction: what later requests or an ageing account would hide
    # from a signal computed when the page is viewed stays on the record (finding 9).
    signals = risk.compute_signals(legal_request)
    legal_request.risk_snapshot = risk.snapshot_json(signals, computed_at=now)
    legal_request.risk_signal_count = len(signals)
    LegalRequest.objects.filter(pk=legal_request.pk).update(
        risk_snapshot=legal_request.risk_snapshot, risk_signal_count=legal_request.risk_signal_count
    )
    recompute_due_at(legal_request)
    notify_authority(legal_request, key="ack", template="request_received")
    if emergency or legal_request.instrument in instruments.URGENT_INSTRUMENTS:
        alerts.alert_queue(
            legal_request, kind=alerts.Kind.ARRIVAL, threshold=0, due_at=legal_request.received_at
        )
    return legal_request


# --- After submission: the authority's actions ------------------------------------------------


def _locked_for(officer, action: str, legal_request: LegalRequest) -> LegalRequest:
    """The request, locked, once the policy allows this officer the action on it now."""
    legal_request = LegalRequest.objects.select_for_update().get(pk=legal_request.pk)
    policies.check(officer, action, legal_request)
    return legal_request


@transaction.atomic
def legal_request_withdraw(*, officer, legal_request: LegalRequest, reason: str) -> LegalRequest:
    legal_request = _locked_for(officer, "withdraw", legal_request)
    transition(
        legal_request=legal_request,
        to=Status.WITHDRAWN,
        actor=officer,
        kind=RequestEvent.Kind.WITHDRAWN,
        detail=reason,
    )
    notify_authority(legal_request, key="withdrawn", template="request_status_changed")
    return legal_request


@transaction.atomic
def message_post_by_officer(
    *,
    officer,
    legal_request: LegalRequest,
    body: str,
    amendment: bool = False,
    files: list[tuple[object, CheckedFile]] = (),
) -> Message:
    """A message from the authority. While a clarification is pending, the message is the
    answer: the clock restarts and the request goes back to review."""
    legal_request = _locked_for(officer, "message", legal_request)
    answering = legal_request.status == Status.CLARIFICATION
    kind = (
        Message.Kind.CLARIFICATION_ANSWER
        if answering
        else Message.Kind.AMENDMENT
        if amendment
        else Message.Kind.FROM_AUTHORITY
    )
    message = Message.objects.create(request=legal_request, author=officer, kind=kind, body=body)
    for uploaded, checked in files:
        attachment_add(
            legal_request=legal_request,
            user=officer,
            uploaded=uploaded,
            checked=checked,
            purpose=Attachment.Purpose.MESSAGE,
            message=message,
        )
    RequestEvent.objects.create(
        request=legal_request,
        kind=RequestEvent.Kind.AMENDMENT if amendment else RequestEvent.Kind.MESSAGE,
        actor=officer,
        detail=in_english(Message.Kind(kind).label),
    )
    if answering:
        transition(
            legal_request=legal_request,
            to=Status.IN_REVIEW,
            actor=officer,
            kind=RequestEvent.Kind.CLOCK_RESTARTED,
            clock_stopped_at=None,
        )
        recompute_due_at(legal_request)
        notifications_enqueue(
            [
                Email(
                    key=f"clarification-answered:{legal_request.pk}:{message.pk}",
                    recipients=alerts.recipients(legal_request, alerts.Kind.DEADLINE),
                    template="clarification_answered",
                    context=notice_context(legal_request),
                    legal_request=legal_request,
                )
            ]
        )
    return message


@transaction.atomic
def preservation_extend(*, officer, legal_request: LegalRequest) -> LegalRequest:
    """EPOC-PR Annex VI: the issuing authority extends the preservation once, by 30 days."""
    legal_request = _locked_for(officer, "extend_preservation", legal_request)
    legal_request.preservation_until += timedelta(days=settings.PORTAL_PRESERVATION_EXTENSION_DAYS)
    legal_request.save(update_fields=["preservation_until"])
    alerts.deadline_changed(legal_request)
    RequestEvent.objects.create(
        request=legal_request,
        kind=RequestEvent.Kind.PRESERVATION_EXTENSION,
        actor=officer,
        detail=f"Preserved until {legal_request.preservation_until:%Y-%m-%d %H:%M} UTC",
    )
    return legal_request


@transaction.atomic
def preservation_confirm_production(
    *, officer, legal_request: LegalRequest, production_reference: str
) -> LegalRequest:
    """EPOC-PR Annex V: a production request was issued, so the data stay preserved until it
    is answered (no end date here)."""
    legal_request = _locked_for(officer, "confirm_production", legal_request)
    legal_request.preservation_until = None
    legal_request.save(update_fields=["preservation_until"])
    alerts.deadline_changed(legal_request)
    RequestEvent.objects.create(
        request=legal_request,
        kind=RequestEvent.Kind.PRODUCTION_CONFIRMED,
        actor=officer,
        detail=f"Production request: {production_reference}",
    )
    return legal_request
