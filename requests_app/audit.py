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
