"""Thin tasks of the API: ids or nothing in, one query."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import IdempotencyKey


@shared_task(name="api.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Forget the answers kept for Idempotency-Keys older than the retention (idempotent: a
    second run finds nothing)."""
    cutoff = timezone.now() - timedelta(hours=settings.PORTAL_API_IDEMPOTENCY_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
