"""Thin tasks: ids in, a service call; Redis holds nothing the database does not also hold."""

from celery import shared_task
from celery.signals import beat_init

from .alerts import daily_digest, deadline_sweep
from .notifications import notification_deliver, notifications_due


@shared_task(name="requests_app.tasks.deliver_notification")
def deliver_notification(notification_id: int) -> None:
    notification_deliver(notification_id)


@shared_task(name="requests_app.tasks.sweep_notifications")
def sweep_notifications() -> int:
    """Hand out every due notification again: nothing depends on a task surviving in Redis."""
    due = notifications_due()
    for pk in due:
        deliver_notification.delay(pk)
    return len(due)


@shared_task(name="requests_app.tasks.sweep_deadlines")
def sweep_deadlines() -> int:
    return deadline_sweep().queued


@shared_task(name="requests_app.tasks.send_daily_digest")
def send_daily_digest() -> None:
    daily_digest()


@beat_init.connect
def _sweep_when_beat_starts(sender=None, **kwargs) -> None:
    # Interval schedules first fire one interval after beat starts; sweep at once instead, so a
    # restarted beat catches up on alerts immediately and /healthz sees a fresh heartbeat.
    sweep_deadlines.delay()
