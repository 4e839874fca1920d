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


def checks() -> dict[str, bool]:
    return {"database": database_ok(), "broker": broker_ok()}
