"""Queue and deliver e-mails through the Notification outbox (see the model's docstring).

Never the sensitive content of a request in an e-mail: the reference, the instrument, the status,
the time left and a link to the portal, nothing more.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import get_connection
from django.core.validators import validate_email
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from portal.emails import absolute_url, build_email, local_time

from . import instruments as I
from . import roles
from .models import LegalRequest, Notification, Status

logger = logging.getLogger(__name__)
# A send holds its row this long; after that, the sweep takes the worker for dead.
LEASE = timedelta(seconds=getattr(settings, "PORTAL_NOTIFICATION_LEASE_SECONDS", 300))


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


def request_url_for(user, request: LegalRequest) -> str:
    """The page of this request that this user can open; every e-mail about a request links
    there. The legal team works on the review page; the authority's officers follow the request
    on theirs. Each page is a 404 for the other audience: an URGENT alert must not cost the
    reviewer the minutes it takes to find the request by hand."""
    if user is not None and roles.is_legal_team(user):
        return absolute_url(reverse("review:detail", args=[request.public_id]))
    return absolute_url(reverse("requests:detail", args=[request.public_id]))


def recipients_by_link(emails: list[str], request: LegalRequest) -> dict[str, list[str]]:
    """The recipients grouped by the link each can open (one message per group). An address
    with no active account gets the authority's page, which asks for a login."""
    from django.contrib.auth import get_user_model

    users = {
        user.email.lower(): user
        for user in get_user_model().objects.filter(
            email__in=[e.lower() for e in emails], is_active=True
        )
    }
    groups: dict[str, list[str]] = {}
    for email in emails:
        groups.setdefault(request_url_for(users.get(email.lower()), request), []).append(email)
    return groups


def notice_context(request: LegalRequest, *, language: str = "en", time_zone: str = "UTC") -> dict:
    """What an e-mail about a request may say: never its content. Labels in the recipient's
    language and the deadline in their time zone (the outbox row keeps them as text)."""
    left = request.time_left()
    with translation.override(language):
        return {
            "reference": request.reference,
            "instrument": str(I.rule_for(request.instrument).label),
            "status": str(Status(request.status).label),
            "emergency": I.is_emergency(request.instrument, request.is_emergency),
            "due_at": local_time(request.due_at, time_zone) if request.due_at else "",
            "time_left": format_duration(left) if left is not None else "",
            "authority": request.authority.name_en,
            "country": request.authority.country,
        }


def format_duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    overdue = minutes < 0
    minutes = abs(minutes)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [gettext("%(days)s d") % {"days": days}] if days else []
    if hours or days:
        parts.append(gettext("%(hours)s h") % {"hours": hours})
    parts.append(gettext("%(minutes)s min") % {"minutes": mins})
    text = " ".join(parts)
    return gettext("overdue by %(duration)s") % {"duration": text} if overdue else text


def notification_deliver(notification_id: int) -> bool:
    """Claim, send, mark sent. Returns True if this call sent it. Safe to call twice at once or
    after a crash: only the holder of an unexpired lease sends."""
    now = timezone.now()
    claimable = Notification.objects.filter(
        Q(state__in=[Notification.State.PENDING, Notification.State.FAILED], send_after__lte=now)
        | Q(state=Notification.State.SENDING, lease_until__lt=now),
        pk=notification_id,
    )
    # A row still "sending" with an expired lease: its worker died, perhaps after the SMTP
    # server took the message. Flag it before claiming: a send now may be the one duplicate.
    claimable.filter(state=Notification.State.SENDING).update(recovered_after_crash=True)
    claimed = claimable.update(
        state=Notification.State.SENDING, lease_until=now + LEASE, attempts=F("attempts") + 1
    )
    if claimed != 1:
        return False
    try:
        # Everything that reads the row can raise on a bad one (a corrupt row, an instrument
        # the rule table no longer knows, a missing template, a malformed address): it is
        # recorded on this row and retried, and never stops the delivery of the others.
        notification = Notification.objects.get(pk=notification_id)
        from .alerts import alert_still_applies

        if not alert_still_applies(notification):
            Notification.objects.filter(pk=notification_id).update(
                state=Notification.State.CANCELLED, lease_until=None
            )
            return False
        message_id = f"<{notification.key.replace(':', '.')}@{_mail_domain()}>"
        notification.recipients = _deliverable_recipients(notification)
        _send(notification, message_id)
    except Exception as exc:
        _record_send_failure(notification_id, exc)
        return False
    _record_sent(notification_id, message_id)
    return True


def _record_send_failure(notification_id: int, exc: Exception) -> None:
    """Back off (30 s, 1 min, 2 min... at most an hour) and keep trying: an e-mail is never
    dropped. From PORTAL_ALERT_FAILURE_BANNER attempts on the row is marked failed (still
    retried): leads see it counted in a banner and on their dashboard."""
    row = Notification.objects.filter(pk=notification_id).values("key", "attempts").first()
    if row is None:
        return
    attempts = row["attempts"]
    retry_in = timedelta(seconds=min(3600, 30 * 2 ** min(max(attempts - 1, 0), 7)))
    failing = attempts >= settings.PORTAL_ALERT_FAILURE_BANNER
    Notification.objects.filter(pk=notification_id).update(
        state=Notification.State.FAILED if failing else Notification.State.PENDING,
        lease_until=None,
        send_after=timezone.now() + retry_in,
        last_error=f"{type(exc).__name__}: {exc}"[:500],
    )
    logger.warning("notification %s failed (attempt %s): %s", row["key"], attempts, exc)


def _deliverable_recipients(notification: Notification) -> list[str]:
    """The row's well-formed addresses. One malformed address (a bad manual edit) must not keep
    an alert from the rest of the team: it is skipped, logged and noted on the row; a row with
    no deliverable address at all fails (and is retried, in case it is corrected)."""
    recipients = notification.recipients
    if not isinstance(recipients, list):
        raise ValueError(f"recipients is not a list: {recipients!r}"[:300])
    good, bad = [], []
    for address in recipients:
        try:
            validate_email(address)
            good.append(address)
        except ValidationError:
            bad.append(address)
    if bad:
        if not good:
            raise ValueError(f"no valid recipient address: {bad!r}"[:300])
        logger.error("notification %s: skipped malformed addresses %r", notification.key, bad)
        Notification.objects.filter(pk=notification.pk).update(
            last_error=f"Skipped malformed addresses: {bad!r}"[:500]
        )
    return good


def notifications_failing():
    """Outbox rows that keep failing (PORTAL_ALERT_FAILURE_BANNER attempts or more and not
    sent): the leads' banner, their dashboard and the daily digest."""
    return Notification.objects.filter(
        state__in=[
            Notification.State.PENDING,
            Notification.State.SENDING,
            Notification.State.FAILED,
        ],
        attempts__gte=settings.PORTAL_ALERT_FAILURE_BANNER,
    )


def _send(notification: Notification, message_id: str) -> None:
    """Send the row's e-mail; one about a request goes out once per link, so that each recipient
    gets the page they can open (a preservation notice reaches the legal team and the
    officer). Every message is built before any is sent: a template error sends nothing."""
    context = _context_at_send_time(notification)
    if notification.request_id is None:
        batches = [(notification.recipients, context)]
    else:
        request = LegalRequest.objects.get(pk=notification.request_id)
        batches = [
            (to, {**context, "link": link})
            for link, to in recipients_by_link(notification.recipients, request).items()
        ]
    messages = [
        build_email(
            to=to,
            template=notification.template,
            context=batch_context,
            language=notification.language,
            headers={"Message-ID": message_id if n == 0 else message_id.replace("@", f".{n}@")},
        )
        for n, (to, batch_context) in enumerate(batches)
    ]
    with get_connection() as mail_connection:
        mail_connection.send_messages(messages)


def _record_sent(notification_id: int, message_id: str) -> None:
    """Mark the row sent. The message is gone already: if the database connection dropped
    during the send (a failover, a killed backend), reconnect and record it, rather than leave
    the row "sending" for the sweep to take for a crash and send again."""
    for retry in range(3):
        try:
            Notification.objects.filter(pk=notification_id).update(
                state=Notification.State.SENT,
                sent_at=timezone.now(),
                lease_until=None,
                message_id=message_id,
            )
            return
        except (InterfaceError, OperationalError) as exc:
            if retry == 2 or connection.in_atomic_block:
                raise
            logger.warning("notification %s sent, recording it again: %s", notification_id, exc)
            connection.close()
            time.sleep(retry)


def notifications_due(limit: int = 500) -> list[int]:
    """Pending rows whose time has come, sending rows whose lease ran out (a crashed send) and
    failed rows whose retry has come (after the others: a bad row never crowds them out)."""
    now = timezone.now()
    pending = Notification.objects.filter(
        state=Notification.State.PENDING, send_after__lte=now
    ).values_list("pk", flat=True)[:limit]
    stale = Notification.objects.filter(
        state=Notification.State.SENDING, lease_until__lt=now
    ).values_list("pk", flat=True)[:limit]
    failed = Notification.objects.filter(
        state=Notification.State.FAILED, send_after__lte=now
    ).values_list("pk", flat=True)[:limit]
    return [*pending, *stale, *failed]


def _context_at_send_time(notification: Notification) -> dict:
    """Alerts say the time left when they are sent, not when they were queued."""
    if notification.alert_kind and notification.request_id:
        from .models import LegalRequest

        request = LegalRequest.objects.select_related("authority").get(pk=notification.request_id)
        return {
            **notice_context(request, language=notification.language),
            "kind": notification.alert_kind,
            "threshold": notification.threshold,
            "preservation_until": (
                request.preservation_until.strftime("%Y-%m-%d %H:%M UTC")
                if request.preservation_until
                else ""
            ),
        }
    return notification.context


def deliver_all_due() -> int:
    """Deliver every due notification in this process (the sweep's fallback; tests use it).
    A row that raises even past its own failure handling is logged and the loop goes on."""
    sent = 0
    for pk in notifications_due():
        try:
            sent += notification_deliver(pk)
        except Exception:
            logger.exception("notification %s could not be delivered", pk)
    return sent


def _mail_domain() -> str:
    return settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1] or "portal.localhost"
