"""Services of the platform legal team: each action asks requests_app.policies whether the user
may do it to the request now (and refuses otherwise), writes its event in the same transaction,
and e-mails the authority through the outbox."""

import hashlib
from datetime import UTC, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from authorities import second_factor
from authorities.models import User

from .. import custody, policies, retention, sealed_documents
from ..lifecycle import in_english, notify_authority, recompute_due_at, transition
from ..models import (
    CallbackVerification,
    DisclosureApproval,
    LegalRequest,
    Message,
    ProducedData,
    RefusalGround,
    RequestEvent,
    Status,
)


def _notify_status(
    legal_request: LegalRequest, event: RequestEvent, *, extra: dict | None = None
) -> None:
    # One e-mail per event: the key makes a retried action never mail twice.
    notify_authority(
        legal_request, key=f"status:{event.pk}", template="request_status_changed", extra=extra
    )


@transaction.atomic
def legal_request_assign(
    *, actor, legal_request: LegalRequest, assignee: User | None
) -> LegalRequest:
    policies.require(actor, "assign")
    if assignee is not None and not policies.has(assignee, policies.Capability.REVIEW):
        raise ValidationError(gettext("Requests are assigned to members of the legal team only."))
    if assignee != actor and assignee is not None:
        policies.require_capability(actor, policies.Capability.ASSIGN_OTHERS)
    legal_request = policies.locked(actor, "assign", legal_request)
    legal_request.assignee = assignee
    legal_request.save(update_fields=["assignee"])
    RequestEvent.objects.create(
        request=legal_request,
        kind=RequestEvent.Kind.ASSIGNED,
        actor=actor,
        detail=assignee.full_name if assignee else "Unassigned",
        visible_to_authority=False,
    )
    return legal_request


@transaction.atomic
def legal_request_accept(*, reviewer, legal_request: LegalRequest) -> LegalRequest:
    policies.require(reviewer, "accept")
    legal_request = policies.locked(reviewer, "accept", legal_request)
    event = transition(
        legal_request=legal_request,
        to=Status.IN_REVIEW,
        actor=reviewer,
        kind=RequestEvent.Kind.ACCEPTED,
    )
    _notify_status(legal_request, event)
    return legal_request


@transaction.atomic
def legal_request_ask_clarification(
    *, reviewer, legal_request: LegalRequest, question: str
) -> Message:
    """Ask the authority a question; the legal clock stops until it answers."""
    policies.require(reviewer, "clarify")
    legal_request = policies.locked(reviewer, "clarify", legal_request)
    now = timezone.now()
    event = transition(
        legal_request=legal_request,
        to=Status.CLARIFICATION,
        actor=reviewer,
        kind=RequestEvent.Kind.CLOCK_STOPPED,
        detail="Clarification requested",
        clock_stopped_at=now,
    )
    message = Message.objects.create(
        request=legal_request,
        author=reviewer,
        kind=Message.Kind.CLARIFICATION_REQUEST,
        body=question,
    )
    recompute_due_at(legal_request)
    notice = sealed_documents.clarification_notice_issue(
        legal_request=legal_request, event=event, question=message
    )
    notify_authority(
        legal_request,
        key=f"clarification:{event.pk}",
        template="clarification_requested",
        extra=sealed_documents.email_context(notice),
    )
    return message


@transaction.atomic
def legal_request_refuse(
    *, reviewer, legal_request: LegalRequest, ground: str, explanation: str
) -> RequestEvent:
    """Refuse with a ground from the list and an explanation: the Annex III-style notice the
    authority sees is built from this event."""
    policies.require(reviewer, "refuse")
    if ground not in RefusalGround.values:
        raise ValidationError(gettext("Choose a ground for the refusal."))
    if not explanation.strip():
        raise ValidationError(
            gettext("Explain the refusal: the authority needs to know what to fix.")
        )
    legal_request = policies.locked(reviewer, "refuse", legal_request)
    event = transition(
        legal_request=legal_request,
        to=Status.REFUSED,
        actor=reviewer,
        kind=RequestEvent.Kind.REFUSED,
        detail=f"{ground}: {explanation.strip()}",
        answered_at=timezone.now(),
    )
    notice = sealed_documents.refusal_notice_issue(legal_request=legal_request, event=event)
    _notify_status(legal_request, event, extra=sealed_documents.email_context(notice))
    return event


@transaction.atomic
def legal_request_respond(
    *,
    reviewer,
    legal_request: LegalRequest,
    files: list,
    partial: bool = False,
    note: str = "",
    categories: list[str] | None = None,
) -> RequestEvent:
    """Deliver produced data through the portal: stored outside the web root, downloadable by the
    authority until the link expires, every download audited. `categories`: the data categories
    delivered; required, and never a refused one, once the enforcing authority refused some
    (e-Evidence Art. 12). Refused while the order is on hold for it (policies, Art. 10(2))."""
    policies.require(reviewer, "respond")
    if not files:
        raise ValidationError(gettext("Attach the produced data."))
    if partial and not note.strip():
        raise ValidationError(gettext("Say what is missing from a partial response."))
    # An emergency: call-back and approval; an order on hold for the enforcing authority.
    legal_request = policies.locked(reviewer, "respond", legal_request)
    _check_categories(legal_request, categories)
    now = timezone.now()
    expires = now + timedelta(days=settings.PORTAL_PRODUCED_DATA_DAYS)
    delivered = []
    for uploaded in files:
        _check_produced_file(uploaded)
        digest = hashlib.sha256()
        for chunk in uploaded.chunks():
            digest.update(chunk)
        uploaded.seek(0)
        produced = ProducedData(
            request=legal_request,
            original_name=uploaded.name[:255],
            size=uploaded.size,
            sha256=digest.hexdigest(),
            uploaded_by=reviewer,
            expires_at=expires,
            purge_due_at=retention.produced_purge_due(legal_request, expires),
        )
        # Encrypted at rest under its own data key (custody.py); its digest is the plaintext's.
        custody.file_store(produced, uploaded, "produced")
        produced.save()
        delivered.append(produced)
    target = Status.PARTIALLY_RESPONDED if partial else Status.RESPONDED
    detail = note.strip()
    if categories:
        detail = f"Categories delivered: {', '.join(categories)}. {detail}".strip()
    event = transition(
        legal_request=legal_request,
        to=target,
        actor=reviewer,
        kind=RequestEvent.Kind.PARTIALLY_RESPONDED if partial else RequestEvent.Kind.RESPONDED,
        detail=detail,
        answered_at=legal_request.answered_at or now,
    )
    manifest = sealed_documents.delivery_manifest_issue(
        legal_request=legal_request, event=event, produced=delivered, released_by=reviewer
    )
    notify_authority(
        legal_request,
        key=f"response:{event.pk}",
        template="response_ready",
        extra=sealed_documents.email_context(manifest),
    )
    return event


@transaction.atomic
def legal_request_confirm_removal(
    *, reviewer, legal_request: LegalRequest, removed_at, note: str = ""
) -> RequestEvent:
    """Answer a removal order (TCO Art. 3(3), DSA Art. 9) without a file: the legal team
    confirms the content was removed or access to it disabled, and when (TCO Art. 3(6): the
    authority is told the time). The on-time figures count that time, not the click; content
    already gone when the order arrived is counted as answered at receipt."""
    policies.require(reviewer, "confirm_removal")
    if removed_at is None:
        raise ValidationError(gettext("Give the time the content was removed or disabled."))
    now = timezone.now()
    if removed_at > now:
        raise ValidationError(gettext("The time of the removal is in the future."))
    legal_request = policies.locked(reviewer, "confirm_removal", legal_request)
    answered_at = max(removed_at, legal_request.received_at)
    detail = (
        f"Content removed or access disabled at {removed_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC."
    )
    if note.strip():
        detail = f"{detail} {note.strip()}"
    event = transition(
        legal_request=legal_request,
        to=Status.RESPONDED,
        actor=reviewer,
        kind=RequestEvent.Kind.REMOVAL_CONFIRMED,
        detail=detail,
        content_removed_at=removed_at,
        answered_at=legal_request.answered_at or answered_at,
    )
    _notify_status(legal_request, event)
    return event


@transaction.atomic
def legal_request_answer(*, reviewer, legal_request: LegalRequest, answer: str) -> Message:
    """Answer in writing (an inquiry: no data is disclosed). The answer is a message of the
    request's thread, read on the authority's page; the e-mail only says there is one."""
    policies.require(reviewer, "answer")
    if not answer.strip():
        raise ValidationError(gettext("Write the answer to the authority."))
    legal_request = policies.locked(reviewer, "answer", legal_request)
    message = Message.objects.create(
        request=legal_request, author=reviewer, kind=Message.Kind.ANSWER, body=answer.strip()
    )
    event = transition(
        legal_request=legal_request,
        to=Status.RESPONDED,
        actor=reviewer,
        kind=RequestEvent.Kind.ANSWERED,
        answered_at=legal_request.answered_at or timezone.now(),
    )
    _notify_status(legal_request, event)
    return message


@transaction.atomic
def message_post_by_platform(*, reviewer, legal_request: LegalRequest, body: str) -> Message:
    """A message from the legal team in the request's thread. Unlike a clarification
    (legal_request_ask_clarification) it neither stops the clock nor changes the status."""
    policies.require(reviewer, "message_officer")
    if not body.strip():
        raise ValidationError(gettext("Write the message to the authority."))
    legal_request = policies.locked(reviewer, "message_officer", legal_request)
    message = Message.objects.create(
        request=legal_request, author=reviewer, kind=Message.Kind.FROM_PLATFORM, body=body.strip()
    )
    RequestEvent.objects.create(
        request=legal_request,
        kind=RequestEvent.Kind.MESSAGE,
        actor=reviewer,
        detail=in_english(Message.Kind.FROM_PLATFORM.label),
    )
    notify_authority(
        legal_request, key=f"platform-message:{message.pk}", template="platform_message"
    )
    return message


def _check_categories(legal_request: LegalRequest, categories: list[str] | None) -> None:
    """The refused part of an order never goes (e-Evidence Art. 12): a delivery says which
    categories it carries, and none may be refused."""
    refused = set(legal_request.refused_categories)
    if not refused and not categories:
        return
    if not categories:
        raise ValidationError(
            gettext(
                "The enforcing authority refused part of this order: mark the data categories "
                "delivered (only %(left)s may go)."
            )
            % {"left": ", ".join(legal_request.categories_left) or "-"}
        )
    not_requested = [c for c in categories if c not in legal_request.data_categories]
    if not_requested:
        raise ValidationError(
            gettext("The order does not request %(categories)s.")
            % {"categories": ", ".join(not_requested)}
        )
    blocked = [c for c in categories if c in refused]
    if blocked:
        raise ValidationError(
            gettext(
                "The enforcing authority refused %(categories)s (e-Evidence Art. 12): these data "
                "must not be transferred."
            )
            % {"categories": ", ".join(blocked)}
        )


def _check_produced_file(uploaded) -> None:
    limit = settings.PORTAL_MAX_UPLOAD_BYTES
    if not uploaded.size:
        raise ValidationError(gettext("%(name)s is empty.") % {"name": uploaded.name})
    if uploaded.size > limit:
        raise ValidationError(
            gettext("%(name)s is larger than %(mb)s MB.")
            % {"name": uploaded.name, "mb": limit // (1024 * 1024)}
        )


@transaction.atomic
def legal_request_confirm_preservation(*, reviewer, legal_request: LegalRequest) -> LegalRequest:
    policies.require(reviewer, "preserve")
    legal_request = policies.locked(reviewer, "preserve", legal_request)
    event = transition(
        legal_request=legal_request,
        to=Status.PRESERVED,
        actor=reviewer,
        kind=RequestEvent.Kind.PRESERVED,
        detail=(
            f"Preserved until {legal_request.preservation_until:%Y-%m-%d %H:%M} UTC"
            if legal_request.preservation_until
            else gettext_noop("Preserved until the production order is answered")
        ),
        answered_at=legal_request.answered_at or timezone.now(),
    )
    _notify_status(legal_request, event)
    return legal_request


@transaction.atomic
def legal_request_confirm_extension(*, reviewer, legal_request: LegalRequest) -> RequestEvent:
    policies.require(reviewer, "confirm_extension")
    legal_request = policies.locked(reviewer, "confirm_extension", legal_request)
    event = RequestEvent.objects.create(
        request=legal_request,
        kind=RequestEvent.Kind.EXTENSION_CONFIRMED,
        actor=reviewer,
        detail=f"Preserved until {legal_request.preservation_until:%Y-%m-%d %H:%M} UTC",
    )
    _notify_status(legal_request, event)
    return event


@transaction.atomic
def legal_request_record_deletion(
    *, reviewer, legal_request: LegalRequest, note: str = ""
) -> RequestEvent:
    """The legal team records that it deleted the data: a preservation that lapsed or was ended
    (e-Evidence Art. 11), or an emergency order whose ex post validation was refused or not given
    within 48 hours (Art. 4(5)). The portal's copies of produced data go too; their rows stay
    (name, size, digest) for the record."""
    policies.require(reviewer, "record_deletion")
    if not note.strip():
        raise ValidationError(gettext("Say what was deleted, and where."))
    legal_request = policies.locked(reviewer, "record_deletion", legal_request)
    now = timezone.now()
    for produced in legal_request.produced.all():
        if produced.file:
            produced.file.delete(save=False)
        produced.wrapped_key = ""
        produced.expires_at = min(produced.expires_at, now)
        produced.save(update_fields=["file", "wrapped_key", "expires_at"])
    legal_request.data_deleted_at = now
    legal_request.save(update_fields=["data_deleted_at"])
    event = RequestEvent.objects.create(
        request=legal_request,
        kind=RequestEvent.Kind.DATA_DELETED,
        actor=reviewer,
        detail=note.strip()[:2000],
    )
    _notify_status(legal_request, event)
    return event


@transaction.atomic
def legal_request_close(*, reviewer, legal_request: LegalRequest, note: str = "") -> LegalRequest:
    policies.require(reviewer, "close")
    legal_request = policies.locked(reviewer, "close", legal_request)
    event = transition(
        legal_request=legal_request,
        to=Status.CLOSED,
        actor=reviewer,
        kind=RequestEvent.Kind.CLOSED,
        detail=note.strip(),
    )
    _notify_status(legal_request, event)
    return legal_request


@transaction.atomic
def callback_record(
    *, reviewer, legal_request: LegalRequest, outcome: str, notes: str = ""
) -> CallbackVerification:
    """Record a call-back to the number in the registry (never one from the request)."""
    policies.require(reviewer, "callback")
    if outcome not in CallbackVerification.Outcome.values:
        raise ValidationError(gettext("Choose the outcome of the call."))
    legal_request = policies.locked(reviewer, "callback", legal_request)
    callback = CallbackVerification.objects.create(
        request=legal_request,
        verified_by=reviewer,
        phone=legal_request.authority.callback_phone,
        outcome=outcome,
        notes=notes.strip(),
    )
    RequestEvent.objects.create(
        request=legal_request,
        kind=RequestEvent.Kind.CALLBACK,
        actor=reviewer,
        # Stored in English whoever records it (the audit reads one language).
        detail=f"{in_english(CallbackVerification.Outcome(outcome).label)} ({callback.phone})",
        visible_to_authority=False,
    )
    return callback


@transaction.atomic
def disclosure_approve(
    *, lead, legal_request: LegalRequest, device_id: str = ""
) -> DisclosureApproval:
    """A lead's second pair of eyes on an emergency disclosure. `device_id` is the persistent id
    of the second factor that verified the lead's session: with the default
    PORTAL_PHISHING_RESISTANT_FOR it must be a passkey (PasskeyRequired otherwise), so a phished
    code cannot approve a fake emergency, whatever page or API calls this."""
    policies.require(lead, "approve")
    if second_factor.requires_phishing_resistant(
        second_factor.EMERGENCY_APPROVAL
    ) and not second_factor.device_id_is_phishing_resistant(device_id, lead):
        raise second_factor.PasskeyRequired(second_factor.EMERGENCY_APPROVAL)
    # An emergency, after a confirmed call-back.
    legal_request = policies.locked(lead, "approve", legal_request)
    approval, created = DisclosureApproval.objects.get_or_create(
        request=legal_request, approved_by=lead
    )
    if created:
        RequestEvent.objects.create(
            request=legal_request,
            kind=RequestEvent.Kind.DISCLOSURE_APPROVED,
            actor=lead,
            visible_to_authority=False,
        )
    return approval


# --- The legal hold (docs/security.md, "Custody") ------------------------------------------------


@transaction.atomic
def legal_hold_set(*, lead, legal_request: LegalRequest, reason: str) -> RequestEvent:
    """A lead holds the request's files: none is purged until the hold is released."""
    if not reason.strip():
        raise ValidationError(gettext("Say why the files are held."))
    legal_request = policies.locked(lead, "legal_hold", legal_request)
    legal_request.legal_hold_at = timezone.now()
    legal_request.legal_hold_by = lead
    legal_request.legal_hold_reason = reason.strip()
    legal_request.save(update_fields=["legal_hold_at", "legal_hold_by", "legal_hold_reason"])
    return RequestEvent.objects.create(
        request=legal_request,
        kind=RequestEvent.Kind.LEGAL_HOLD_SET,
        actor=lead,
        detail=legal_request.legal_hold_reason,
        visible_to_authority=False,
    )


@transaction.atomic
def legal_hold_release(*, lead, legal_request: LegalRequest) -> RequestEvent:
    """The hold ends: files past their time are purged at the next sweep."""
    legal_request = policies.locked(lead, "legal_hold_release", legal_request)
    legal_request.legal_hold_at = None
    legal_request.legal_hold_by = None
    legal_request.legal_hold_reason = ""
    legal_request.save(update_fields=["legal_hold_at", "legal_hold_by", "legal_hold_reason"])
    return RequestEvent.objects.create(
        request=legal_request,
        kind=RequestEvent.Kind.LEGAL_HOLD_RELEASED,
        actor=lead,
        visible_to_authority=False,
    )
