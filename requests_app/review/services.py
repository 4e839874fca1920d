"""Services of the platform legal team: each action asks requests_app.policies whether the user
may do it to the request now (and refuses otherwise), writes its event in the same transaction,
and e-mails the authority through the outbox."""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from authorities import second_factor
from authorities.models import User

from .. import policies
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


def _locked(request: LegalRequest, user, action: str) -> LegalRequest:
    """The request, locked, once the policy allows this user the action on it now."""
    request = (
        LegalRequest.objects.select_for_update()
        .select_related("authority", "officer")
        .get(pk=request.pk)
    )
    policies.check(user, action, request)
    return request


def _notify_status(request: LegalRequest, event: RequestEvent) -> None:
    # One e-mail per event: the key makes a retried action never mail twice.
    notify_authority(request, key=f"status:{event.pk}", template="request_status_changed")


@transaction.atomic
def legal_request_assign(*, actor, request: LegalRequest, assignee: User | None) -> LegalRequest:
    policies.require(actor, "assign")
    if assignee is not None and not policies.has(assignee, policies.Capability.REVIEW):
        raise ValidationError(gettext("Requests are assigned to members of the legal team only."))
    if assignee != actor and assignee is not None:
        policies.require_capability(actor, policies.Capability.ASSIGN_OTHERS)
    request = _locked(request, actor, "assign")
    request.assignee = assignee
    request.save(update_fields=["assignee"])
    RequestEvent.objects.create(
        request=request,
        kind=RequestEvent.Kind.ASSIGNED,
        actor=actor,
        detail=assignee.full_name if assignee else "Unassigned",
        visible_to_authority=False,
    )
    return request


@transaction.atomic
def legal_request_accept(*, reviewer, request: LegalRequest) -> LegalRequest:
    policies.require(reviewer, "accept")
    request = _locked(request, reviewer, "accept")
    event = transition(
        request=request, to=Status.IN_REVIEW, actor=reviewer, kind=RequestEvent.Kind.ACCEPTED
    )
    _notify_status(request, event)
    return request


@transaction.atomic
def legal_request_ask_clarification(*, reviewer, request: LegalRequest, question: str) -> Message:
    """Ask the authority a question; the legal clock stops until it answers."""
    policies.require(reviewer, "clarify")
    request = _locked(request, reviewer, "clarify")
    now = timezone.now()
    event = transition(
        request=request,
        to=Status.CLARIFICATION,
        actor=reviewer,
        kind=RequestEvent.Kind.CLOCK_STOPPED,
        detail="Clarification requested",
        clock_stopped_at=now,
    )
    message = Message.objects.create(
        request=request, author=reviewer, kind=Message.Kind.CLARIFICATION_REQUEST, body=question
    )
    recompute_due_at(request)
    notify_authority(request, key=f"clarification:{event.pk}", template="clarification_requested")
    return message


@transaction.atomic
def legal_request_refuse(
    *, reviewer, request: LegalRequest, ground: str, explanation: str
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
    request = _locked(request, reviewer, "refuse")
    event = transition(
        request=request,
        to=Status.REFUSED,
        actor=reviewer,
        kind=RequestEvent.Kind.REFUSED,
        detail=f"{ground}: {explanation.strip()}",
        answered_at=timezone.now(),
    )
    _notify_status(request, event)
    return event


@transaction.atomic
def legal_request_respond(
    *, reviewer, request: LegalRequest, files: list, partial: bool = False, note: str = ""
) -> RequestEvent:
    """Deliver produced data through the portal: stored outside the web root, downloadable by the
    authority until the link expires, every download audited."""
    policies.require(reviewer, "respond")
    if not files:
        raise ValidationError(gettext("Attach the produced data."))
    if partial and not note.strip():
        raise ValidationError(gettext("Say what is missing from a partial response."))
    request = _locked(request, reviewer, "respond")  # an emergency: call-back and approval
    now = timezone.now()
    expires = now + timedelta(days=settings.PORTAL_PRODUCED_DATA_DAYS)
    for uploaded in files:
        _check_produced_file(uploaded)
        digest = hashlib.sha256()
        for chunk in uploaded.chunks():
            digest.update(chunk)
        uploaded.seek(0)
        produced = ProducedData(
            request=request,
            original_name=uploaded.name[:255],
            size=uploaded.size,
            sha256=digest.hexdigest(),
            uploaded_by=reviewer,
            expires_at=expires,
        )
        produced.file.save("produced", uploaded, save=False)
        produced.save()
    target = Status.PARTIALLY_RESPONDED if partial else Status.RESPONDED
    event = transition(
        request=request,
        to=target,
        actor=reviewer,
        kind=RequestEvent.Kind.PARTIALLY_RESPONDED if partial else RequestEvent.Kind.RESPONDED,
        detail=note.strip(),
        answered_at=request.answered_at or now,
    )
    notify_authority(request, key=f"response:{event.pk}", template="response_ready")
    return event


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
def legal_request_confirm_preservation(*, reviewer, request: LegalRequest) -> LegalRequest:
    policies.require(reviewer, "preserve")
    request = _locked(request, reviewer, "preserve")
    event = transition(
        request=request,
        to=Status.PRESERVED,
        actor=reviewer,
        kind=RequestEvent.Kind.PRESERVED,
        detail=(
            f"Preserved until {request.preservation_until:%Y-%m-%d %H:%M} UTC"
            if request.preservation_until
            else "Preserved until the production order is answered"
        ),
        answered_at=request.answered_at or timezone.now(),
    )
    _notify_status(request, event)
    return request


@transaction.atomic
def legal_request_confirm_extension(*, reviewer, request: LegalRequest) -> RequestEvent:
    policies.require(reviewer, "confirm_extension")
    request = _locked(request, reviewer, "confirm_extension")
    event = RequestEvent.objects.create(
        request=request,
        kind=RequestEvent.Kind.EXTENSION_CONFIRMED,
        actor=reviewer,
        detail=f"Preserved until {request.preservation_until:%Y-%m-%d %H:%M} UTC",
    )
    _notify_status(request, event)
    return event


@transaction.atomic
def legal_request_close(*, reviewer, request: LegalRequest, note: str = "") -> LegalRequest:
    policies.require(reviewer, "close")
    request = _locked(request, reviewer, "close")
    event = transition(
        request=request,
        to=Status.CLOSED,
        actor=reviewer,
        kind=RequestEvent.Kind.CLOSED,
        detail=note.strip(),
    )
    _notify_status(request, event)
    return request


@transaction.atomic
def callback_record(
    *, reviewer, request: LegalRequest, outcome: str, notes: str = ""
) -> CallbackVerification:
    """Record a call-back to the number in the registry (never one from the request)."""
    policies.require(reviewer, "callback")
    if outcome not in CallbackVerification.Outcome.values:
        raise ValidationError(gettext("Choose the outcome of the call."))
    request = _locked(request, reviewer, "callback")
    callback = CallbackVerification.objects.create(
        request=request,
        verified_by=reviewer,
        phone=request.authority.callback_phone,
        outcome=outcome,
        notes=notes.strip(),
    )
    RequestEvent.objects.create(
        request=request,
        kind=RequestEvent.Kind.CALLBACK,
        actor=reviewer,
        # Stored in English whoever records it (the audit reads one language).
        detail=f"{in_english(CallbackVerification.Outcome(outcome).label)} ({callback.phone})",
        visible_to_authority=False,
    )
    return callback


@transaction.atomic
def disclosure_approve(*, lead, request: LegalRequest, device_id: str = "") -> DisclosureApproval:
    """A lead's second pair of eyes on an emergency disclosure. `device_id` is the persistent id
    of the second factor that verified the lead's session: with the default
    PORTAL_PHISHING_RESISTANT_FOR it must be a passkey (PasskeyRequired otherwise), so a phished
    code cannot approve a fake emergency, whatever page or API calls this."""
    policies.require(lead, "approve")
    if second_factor.requires_phishing_resistant(
        second_factor.EMERGENCY_APPROVAL
    ) and not second_factor.device_id_is_phishing_resistant(device_id, lead):
        raise second_factor.PasskeyRequired(second_factor.EMERGENCY_APPROVAL)
    request = _locked(request, lead, "approve")  # an emergency, after a confirmed call-back
    approval, created = DisclosureApproval.objects.get_or_create(request=request, approved_by=lead)
    if created:
        RequestEvent.objects.create(
            request=request,
            kind=RequestEvent.Kind.DISCLOSURE_APPROVED,
            actor=lead,
            visible_to_authority=False,
        )
    return approval
