"""Queue and deliver e-mails through the Notification outbox (see the model's docstring).

Never the sensitive content of a request in an e-mail: the reference, the instrument, the status,
the time left and a link to the portal, nothing more.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from portal.emails import build_email

from .models import Notification

logger = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8


def notification_queue(
    *,
    key: str,
    recipients: list[str],
    template: str,
    context: dict,
    request=None,
    language: str = "en",
) -> Notification | None:
    """Queue an e-mail once per key, inside the caller's transaction; hand it to Celery after
    commit. Returns None if this key was queued before."""
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        return None
    notification, created = Notification.objects.get_or_create(
        key=key,
        defaults={
            "request": request,
            "recipients": recipients,
            "template": template,
            "context": context,
            "language": language,
        },
    )
    if not created:
        return None
    from .tasks import deliver_notification

    transaction.on_commit(lambda: deliver_notification.delay(notification.pk))
    return notification


def legal_team_emails() -> list[str]:
    User = get_user_model()
    return list(
        User.objects.filter(groups__name__in=["reviewer", "lead"], is_active=True)
        .values_list("email", flat=True)
        .distinct()
    )


def notification_deliver(notification_id: int) -> bool:
    """Claim, send, mark sent. Returns True if this call sent it. Safe to call twice at once or
    after a crash: only the holder of an unexpired lease sends."""
    now = timezone.now()
    claimed = Notification.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        pk=notification_id,
        state__in=[Notification.State.PENDING, Notification.State.SENDING],
    ).update(state=Notification.State.SENDING, lease_until=now + LEASE, attempts=F("attempts") + 1)
    if claimed != 1:
        return False
    notification = Notification.objects.get(pk=notification_id)
    message_id = f"<{notification.key.replace(':', '.')}@{_mail_domain()}>"
    try:
        build_email(
            to=notification.recipients,
            template=notification.template,
            context=notification.context,
            language=notification.language,
            headers={"Message-ID": message_id},
        ).send()
    except Exception as exc:
        retry_in = timedelta(seconds=min(3600, 30 * 2 ** (notification.attempts - 1)))
        failed = notification.attempts >= MAX_ATTEMPTS
        Notification.objects.filter(pk=notification_id).update(
            state=Notification.State.FAILED if failed else Notification.State.PENDING,
            lease_until=None,
            send_after=timezone.now() + retry_in,
            last_error=f"{type(exc).__name__}: {exc}"[:500],
        )
        logger.warning(
            "notification %s failed (attempt %s): %s", notification.key, notification.attempts, exc
        )
        return False
    Notification.objects.filter(pk=notification_id).update(
        state=Notification.State.SENT,
        sent_at=timezone.now(),
        lease_until=None,
        message_id=message_id,
    )
    return True


def notifications_due(limit: int = 500) -> list[int]:
    """Pending rows whose time has come and sending rows whose lease ran out (a crashed send)."""
    now = timezone.now()
    pending = Notification.objects.filter(
        state=Notification.State.PENDING, send_after__lte=now
    ).values_list("pk", flat=True)[:limit]
    stale = Notification.objects.filter(
        state=Notification.State.SENDING, lease_until__lt=now
    ).values_list("pk", flat=True)[:limit]
    return [*pending, *stale]


def deliver_all_due() -> int:
    """Deliver every due notification in this process (the sweep's fallback; tests use it)."""
    return sum(notification_deliver(pk) for pk in notifications_due())


def _mail_domain() -> str:
    return settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1] or "portal.localhost"
