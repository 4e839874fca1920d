"""Liveness of the services the portal depends on, for /healthz and the staff status page."""

import logging

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


def alerts_failing() -> int | None:
    """How many requests the deadline sweep keeps failing on (their alerts are not going out);
    None if the database cannot say."""
    from requests_app.alerts import requests_with_failing_alerts

    try:
        return requests_with_failing_alerts().count()
    except Exception:
        logger.exception("health: alert failure check failed")
        return None


def checks() -> dict[str, bool]:
    database = database_ok()
    failing = alerts_failing() if database else None
    if failing:
        logger.error("health: alerts failing for %s request(s)", failing)
    return {
        "database": database,
        "broker": broker_ok(),
        "scheduler": database and scheduler_ok(),
        "alerts": failing == 0,
    }
