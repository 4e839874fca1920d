"""The access log: who opened, downloaded or exported what, one row per access, appended to a
hash chain (portal.audit_chain; docs/security.md, "Audit"). `manage.py verify_audit` checks it."""

from django.utils import timezone

from .models import AccessLog


def access_log_record(
    *, user, action: str, legal_request=None, object_ref: str = "", ip=None
) -> None:
    """Append one audit row to the hash chain (docs/security.md, "Audit"; portal.audit_chain)."""
    AccessLog.objects.create(
        user=user,
        action=action,
        request=legal_request,
        object_ref=object_ref[:200],
        ip_address=ip,
        at=timezone.now(),
    )


def request_view_record(*, user, legal_request, ip: str | None) -> None:
    """A submitted request opened by the legal team or the enforcing authority (page or API)."""
    access_log_record(
        user=user,
        action=AccessLog.Action.VIEW_REQUEST,
        legal_request=legal_request,
        object_ref=legal_request.reference,
        ip=ip,
    )


def officer_read_record(*, officer, legal_request, ip: str | None) -> None:
    """An officer opened a request (its page, or the API). Their own unsent draft is not an
    access to record: a recorded view would keep the draft from being deleted (the log is
    append-only), and nobody else has seen it (docs/security.md)."""
    from .models import Status

    if legal_request.status == Status.DRAFT and legal_request.officer_id == officer.pk:
        return
    access_log_record(
        user=officer,
        action=AccessLog.Action.VIEW_REQUEST,
        legal_request=legal_request,
        object_ref=legal_request.reference or "draft",
        ip=ip,
    )
