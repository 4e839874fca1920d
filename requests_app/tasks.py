"""Thin tasks: ids in, a service call; Redis holds nothing the database does not also hold."""

from datetime import timedelta

from celery import shared_task
from celery.signals import beat_init
from django.conf import settings
from django.utils import timezone

from .alerts import daily_digest, deadline_sweep_until_done
from .api import webhooks
from .api.models import IdempotencyKey
from .enforcing import holds_lapse
from .notifications import (
    DELIVER_TASK,
    notifications_deliver,
    notifications_due,
    notifications_hand_off,
)
from .receipts import ISSUE_TASK, receipts_issue
from .receipts import OUTBOX as RECEIPTS
from .retention import files_purge_due


@shared_task(name=DELIVER_TASK)
def deliver_notifications(notification_ids: list[int]) -> int:
    return notifications_deliver(notification_ids)


@shared_task(name="requests_app.tasks.deliver_notification")
def deliver_notification(notification_id: int) -> None:
    # One row: the tasks queued before the outbox delivered in batches, and anyone who hands
    # out a single row by name.
    notifications_deliver([notification_id])


@shared_task(name="requests_app.tasks.sweep_notifications")
def sweep_notifications() -> int:
    """Hand out every due notification again: nothing depends on a task surviving in Redis."""
    due = notifications_due()
    notifications_hand_off(due)
    return len(due)


@shared_task(name=ISSUE_TASK)
def issue_receipts(owed_ids: list[int]) -> int:
    return receipts_issue(owed_ids)


@shared_task(name="requests_app.tasks.sweep_receipts")
def sweep_receipts() -> int:
    """Hand out every receipt still owed (a lost task, a Redis flush, a worker that died while
    sealing, a retry whose time came)."""
    return RECEIPTS.sweep()


@shared_task(name="requests_app.tasks.sweep_deadlines")
def sweep_deadlines() -> int:
    # The enforcing authority's windows that ended unanswered release their holds (recorded
    # once each); then, batch after batch while there is more due, for at most half a beat
    # interval, the deadline alerts.
    holds_lapse()
    return deadline_sweep_until_done(
        budget_seconds=settings.PORTAL_DEADLINE_SWEEP_SECONDS / 2
    ).queued


@shared_task(name="requests_app.tasks.send_daily_digest")
def send_daily_digest() -> None:
    daily_digest()


@beat_init.connect
def _sweep_when_beat_starts(sender=None, **kwargs) -> None:
    # Interval schedules first fire one interval after beat starts; sweep at once instead, so a
    # restarted beat catches up on alerts immediately and /healthz sees a fresh heartbeat.
    sweep_deadlines.delay()


@shared_task(name="requests_app.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Forget the answers the API kept for Idempotency-Keys older than the retention
    (docs/api.md; idempotent: a second run finds nothing)."""
    cutoff = timezone.now() - timedelta(hours=settings.PORTAL_API_IDEMPOTENCY_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


@shared_task(name=webhooks.DELIVER_TASK)
def deliver_webhooks(delivery_ids: list[int]) -> int:
    return webhooks.webhooks_deliver(delivery_ids)


@shared_task(name="requests_app.tasks.sweep_webhooks")
def sweep_webhooks() -> int:
    """Hand out every due webhook again (a lost task, a Redis flush, a retry whose time came)."""
    return webhooks.OUTBOX.sweep()


@shared_task(name="requests_app.tasks.purge_webhook_deliveries")
def purge_webhook_deliveries() -> int:
    return webhooks.webhook_deliveries_purge()


@shared_task(name="requests_app.tasks.purge_due_files")
def purge_due_files() -> int:
    """Purge the files past their retention, data key and bytes (retention.py; idempotent: each
    purge is a claim, and a second run finds nothing)."""
    return files_purge_due()
