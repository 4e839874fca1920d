"""Liveness of the services the portal depends on, for /healthz and the staff status page."""

import logging
from collections.abc import Callable

from django.db import connection

from .celery import app as celery_app

logger = logging.getLogger(__name__)


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.exception("health: database check failed")
        return False


def broker_ok() -> bool:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=3)
        return True
    except Exception:
        logger.exception("health: broker check failed")
        return False


def scheduler_ok() -> bool:
    """The deadline sweep ran within two sweep intervals: alerts are being queued."""
    from django.conf import settings
    from django.utils import timezone

    from .models import Heartbeat

    try:
        seen = Heartbeat.objects.filter(name="deadline-sweep").values_list("seen_at", flat=True)
        last = seen.first()
    except Exception:
        logger.exception("health: scheduler check failed")
        return False
    limit = 2 * settings.PORTAL_DEADLINE_SWEEP_SECONDS
    return last is not None and (timezone.now() - last).total_seconds() <= limit


# What the apps count as not getting out, by name ("alerts": requests the deadline sweep keeps
# failing on; "emails": outbox rows that keep failing to send), registered by each app's
# AppConfig.ready() with the one definition it owns: the portal imports no app.
_failing: dict[str, Callable[[], int]] = {}


def failing_register(name: str, count: Callable[[], int]) -> None:
    _failing[name] = count


def failing_counts() -> dict[str, int | None]:
    """Each registered count; None where the database cannot say."""
    counts: dict[str, int | None] = {}
    for name, count in _failing.items():
        try:
            counts[name] = count()
        except Exception:
            logger.exception("health: %s failure count failed", name)
            counts[name] = None
    return counts


def alerts_failing() -> int | None:
    """How many requests the deadline sweep keeps failing on (their alerts are not going out);
    None if the database cannot say."""
    return failing_counts().get("alerts")


def checks() -> dict[str, bool]:
    """Each service, then each registered failure count (ok when nothing is failing)."""
    database = database_ok()
    failing = failing_counts() if database else dict.fromkeys(_failing)
    for name, count in failing.items():
        if count:
            logger.error("health: %s failing: %s", name, count)
    return {
        "database": database,
        "broker": broker_ok(),
        "scheduler": database and scheduler_ok(),
        **{name: count == 0 for name, count in failing.items()},
    }
