"""Actions on legal requests. Each is atomic, writes an event row in the same transaction, and
queues its e-mails in the outbox (requests_app.notifications)."""

import functools
from datetime import date, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from authorities import second_factor
from portal.logs import bind_reference

from . import alerts, custody, instruments, policies, risk
from .lifecycle import ceil_minute, in_english, notify_authority, recompute_due_at, transition
from .models import (
    Attachment,
    LegalRequest,
    Message,
    ReferenceCounter,
    RequestEvent,
    RequestTarget,
    Status,
    ValidationOutcome,
)
from .notifications import Email, notice_context, notifications_enqueue
from .preservation import extended_until, first_until
from .receipts import receipt_owe
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
        RequestTarget.objects.filter(request=legal_request).delete()  # a new draft has none
    RequestTarget.objects.bulk_create(
        RequestTarget(request=legal_request, kind=kind, value=value) for kind, value in targets
    )
    return legal_request


# What a copy leaves out: whether it is an emergency is decided afresh for each request.
NOT_COPIED = frozenset({"is_emergency"})


@transaction.atomic
def legal_request_copy(*, officer, legal_request: LegalRequest) -> LegalRequest:
    """A follow-up: a new draft of this officer with the instrument, fields and targets of a
    request their authority sent. Not its documents (the new order needs its own), and nothing
    of its life (status, reference, clock, messages): those belong to the original."""
    policies.check(officer, "copy", legal_request)
    data = {name: getattr(legal_request, name) for name in OFFICER_FIELDS if name not in NOT_COPIED}
    targets = [(t.kind, t.value) for t in RequestTarget.objects.filter(request=legal_request)]
    draft = legal_request_save_draft(
        officer=officer, instrument=legal_request.instrument, data=data, targets=targets
    )
    RequestEvent.objects.filter(request=draft, kind=RequestEvent.Kind.CREATED).update(
        detail=f"Copied from {legal_request.reference}"
    )
    return draft


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
        signatures=checked.signatures,
    )
    # Encrypted at rest under its own data key (custody.py); its digest is the plaintext's.
    custody.file_store(attachment, uploaded, "upload")
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


@transaction.atomic
def legal_request_delete_draft(*, officer, legal_request: LegalRequest) -> None:
    """Delete the officer's own draft, its targets and documents (never a submitted request).
    A draft a colleague opened stays: the access log (append-only) keeps what was seen."""
    legal_request = policies.locked(officer, "delete_draft", legal_request)
    if legal_request.access_logs.exists():
        raise PermissionDenied(
            gettext(
                "A colleague opened this draft and the access log keeps a record of it: it "
                "cannot be deleted. Leave it unsubmitted."
            )
        )
    files = [attachment.file for attachment in legal_request.attachments.all()]
    legal_request.delete()
    transaction.on_commit(lambda: [file.delete(save=False) for file in files])


# --- Submission -------------------------------------------------------------------------------


@functools.cache
def _count_up_sql() -> str:
    # Names from the model, quoted; the one value is a parameter.
    quote = connection.ops.quote_name
    table, year, last = (quote(ReferenceCounter._meta.db_table), quote("year"), quote("last"))
    return (
        f"INSERT INTO {table} ({year}, {last}) VALUES (%s, 1) ON CONFLICT ({year})"  # noqa: S608  # nosec B608
        f" DO UPDATE SET {last} = {table}.{last} + 1 RETURNING {last}"
    )


def _next_reference(year: int) -> str:
    """The year's next number, in one statement: the year's row is created or counted up, and
    stays locked by this transaction until it commits, so two submissions never get one number
    and a rolled-back one leaves no gap. It was five statements (a savepoint around
    get_or_create, then SELECT ... FOR UPDATE and UPDATE) in every submission. PostgreSQL and
    SQLite (3.35 and later) both know INSERT ... ON CONFLICT ... RETURNING."""
    with connection.cursor() as cursor:
        cursor.execute(_count_up_sql(), [year])
        [last] = cursor.fetchone()
    return f"LR-{year}-{last:06d}"


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
    5. Record that its sealed receipt is owed (receipts.py): a worker seals it after commit,
       then queues the acknowledgment to the officer (DSA: confirm receipt), which names it.
    6. For emergency and TCO requests, queue the immediate alert to the legal team.
    """
    # Its authority and officer read with it (the checks and the risk signals ask for both);
    # only the request's row is locked.
    legal_request = (
        LegalRequest.objects.select_for_update(of=("self",))
        .select_related("authority", "officer")
        .get(pk=legal_request.pk)
    )
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
    rule = instruments.rule_for(legal_request.instrument)
    if rule.preservation is not None:
        fields["preservation_until"] = first_until(now, rule.preservation)
    if instruments.issued_without_prior_validation(
        instrument=legal_request.instrument,
        authority_kind=legal_request.authority.kind,
        categories=list(legal_request.data_categories),
        validating_authority=legal_request.validating_authority,
        emergency=emergency,
    ):
        # Art. 4(5): validated afterwards, within 48 hours of issuance (here: receipt).
        fields["validation_due_at"] = now + rule.ex_post_validation.period
    hold = instruments.rule_for(legal_request.instrument).hold_for(emergency=emergency)
    if legal_request.enforcing_notified and hold is not None:
        # e-Evidence Art. 10(2), 12(1): the enforcing authority's window, from receipt.
        fields["hold_until"] = ceil_minute(now + hold)
    transition(
        legal_request=legal_request,
        to=Status.SUBMITTED,
        actor=officer,
        kind=RequestEvent.Kind.SUBMITTED,
        at=now,  # the event's time is the receipt's, to the microsecond
        **fields,
    )
    bind_reference(fields["reference"])  # the rest of this submission's log lines name it
    # Stored now, in this transaction: what later requests or an ageing account would hide
    # from a signal computed when the page is viewed stays on the record (finding 9).
    signals = risk.compute_signals(legal_request)
    legal_request.risk_snapshot = risk.snapshot_json(signals, computed_at=now)
    legal_request.risk_signal_count = len(signals)
    LegalRequest.objects.filter(pk=legal_request.pk).update(
        risk_snapshot=legal_request.risk_snapshot, risk_signal_count=legal_request.risk_signal_count
    )
    recompute_due_at(legal_request)
    # The receipt is owed from now (a row in this transaction); a worker seals it after commit
    # and queues the acknowledgment, which names it (receipts.py).
    receipt_owe(legal_request=legal_request)
    if emergency or legal_request.instrument in instruments.URGENT_INSTRUMENTS:
        alerts.alert_queue(
            legal_request, kind=alerts.Kind.ARRIVAL, threshold=0, due_at=legal_request.received_at
        )
    return legal_request


# --- After submission: the authority's actions ------------------------------------------------


@transaction.atomic
def legal_request_withdraw(*, officer, legal_request: LegalRequest, reason: str) -> LegalRequest:
    legal_request = policies.locked(officer, "withdraw", legal_request)
    rule = instruments.RULES.get(legal_request.instrument)  # a retired code may still withdraw
    ends_preservation = rule is not None and rule.preservation is not None
    now = timezone.now()
    transition(
        legal_request=legal_request,
        to=Status.WITHDRAWN,
        actor=officer,
        kind=RequestEvent.Kind.WITHDRAWN,
        detail=reason,
        # A withdrawn preservation order ends its preservation: the data are to be deleted.
        **({"preservation_ended_at": now} if ends_preservation else {}),
    )
    if ends_preservation:
        # The same instant: the deletion alert falls at the start of this deadline version.
        alerts.deadline_changed(legal_request, now=now)
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
    legal_request = policies.locked(officer, "message", legal_request)
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
    """EPOC-PR Annex VI: while the preservation runs, the issuing authority extends it once, by
    the rule's 30 days."""
    legal_request = policies.locked(officer, "extend_preservation", legal_request)
    rule = instruments.rule_for(legal_request.instrument).preservation
    legal_request.preservation_until = extended_until(legal_request.preservation_until, rule)
    legal_request.preservation_extended_at = timezone.now()
    legal_request.save(update_fields=["preservation_until", "preservation_extended_at"])
    alerts.deadline_changed(legal_request)  # the lapse notice moves with the lapse
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
    """EPOC-PR Annex V: a production request for the same data was issued, so the data stay
    preserved until it is answered (no end date here)."""
    legal_request = policies.locked(officer, "confirm_production", legal_request)
    legal_request.preservation_until = None
    legal_request.production_reference = production_reference.strip()[:100]
    legal_request.save(update_fields=["preservation_until", "production_reference"])
    alerts.deadline_changed(legal_request)
    RequestEvent.objects.create(
        request=legal_request,
        kind=RequestEvent.Kind.PRODUCTION_CONFIRMED,
        actor=officer,
        detail=f"Production request: {legal_request.production_reference}",
    )
    return legal_request


@transaction.atomic
def preservation_end(*, officer, legal_request: LegalRequest, reason: str = "") -> LegalRequest:
    """e-Evidence Art. 11(3): the issuing authority says the preservation is no longer needed.
    It ends now, and the legal team is told to delete the data (alerts: PRESERVATION_END)."""
    legal_request = policies.locked(officer, "end_preservation", legal_request)
    now = timezone.now()
    legal_request.preservation_ended_at = now
    legal_request.save(update_fields=["preservation_ended_at"])
    alerts.deadline_changed(legal_request, now=now)  # the deletion alert falls now
    RequestEvent.objects.create(
        request=legal_request,
        kind=RequestEvent.Kind.PRESERVATION_ENDED,
        actor=officer,
        detail=reason.strip()[:1000],
    )
    return legal_request


# --- Ex post validation (e-Evidence Art. 4(5)) -------------------------------------------------


@transaction.atomic
def validation_record(
    *,
    officer,
    legal_request: LegalRequest,
    outcome: str,
    validating_authority: str,
    validated_on: date,
    uploaded,
    checked: CheckedFile,
) -> LegalRequest:
    """The officer records the ex post validation of an emergency order: who validated, when,
    and the decision (a document checked by content). A refusal withdraws the produced data and
    tells the legal team to delete them (alerts: VALIDATION_FAILED)."""
    legal_request = policies.locked(officer, "record_validation", legal_request)
    if outcome not in ValidationOutcome.values:
        raise ValidationError(gettext("Say whether the order was validated or refused."))
    if not validating_authority.strip():
        raise ValidationError(gettext("Name the authority that decided on the validation."))
    now = timezone.now()
    if validated_on > timezone.localdate(now) or validated_on < (
        timezone.localdate(legal_request.received_at) - timedelta(days=1)
    ):
        raise ValidationError(
            gettext(
                "The date of the validation decision must fall between the order's issuance "
                "and today."
            )
        )
    attachment_add(
        legal_request=legal_request,
        user=officer,
        uploaded=uploaded,
        checked=checked,
        purpose=Attachment.Purpose.VALIDATION,
    )
    legal_request.validation_outcome = outcome
    legal_request.validation_recorded_at = now
    legal_request.validation_authority = validating_authority.strip()[:300]
    legal_request.validation_date = validated_on
    legal_request.save(
        update_fields=[
            "validation_outcome",
            "validation_recorded_at",
            "validation_authority",
            "validation_date",
        ]
    )
    # No reminder now; a refusal alerts the team, at this instant (the new version's start).
    alerts.deadline_changed(legal_request, now=now)
    granted = outcome == ValidationOutcome.GRANTED
    RequestEvent.objects.create(
        request=legal_request,
        kind=RequestEvent.Kind.VALIDATION_GRANTED
        if granted
        else RequestEvent.Kind.VALIDATION_REFUSED,
        actor=officer,
        detail=f"{legal_request.validation_authority}, {validated_on:%Y-%m-%d}",
    )
    return legal_request
