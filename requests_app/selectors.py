"""Every read of a legal request by a user goes through here, one selector per audience.
An object outside the audience's reach does not exist for them (Http404)."""

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from .models import Attachment, LegalRequest, Message, RequestEvent


def _officer_scope(officer) -> QuerySet[LegalRequest]:
    if not (officer.is_authenticated and officer.is_officer):
        return LegalRequest.objects.none()
    scope = LegalRequest.objects.filter(authority_id=officer.authority_id)
    if not officer.authority.colleagues_see_requests:
        scope = scope.filter(officer=officer)
    return scope


def legal_requests_for_officer(officer, *, status: str | None = None) -> QuerySet[LegalRequest]:
    requests = _officer_scope(officer).select_related("officer").order_by("-created_at")
    if status:
        requests = requests.filter(status=status)
    return requests


def legal_request_get_for_officer(officer, public_id) -> LegalRequest:
    request = (
        _officer_scope(officer)
        .select_related("authority", "officer")
        .prefetch_related(
            "targets",
            Prefetch("attachments", queryset=Attachment.objects.select_related("uploaded_by")),
            Prefetch("messages", queryset=Message.objects.select_related("author")),
            Prefetch(
                "events",
                queryset=RequestEvent.objects.filter(visible_to_authority=True).select_related(
                    "actor"
                ),
                to_attr="visible_events",
            ),
        )
        .filter(public_id=public_id)
        .first()
    )
    if request is None:
        raise Http404("No such request.")
    return request


def attachment_get_for_officer(officer, request_public_id, attachment_public_id) -> Attachment:
    attachment = (
        Attachment.objects.filter(
            request__in=_officer_scope(officer),
            request__public_id=request_public_id,
            public_id=attachment_public_id,
        )
        .select_related("request")
        .first()
    )
    if attachment is None:
        raise Http404("No such document.")
    return attachment
