from celery import shared_task

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
