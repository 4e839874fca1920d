"""How long the portal keeps a request's files, and their purge (docs/security.md, "Custody:
encryption at rest and purge").

A file is due for purge once its use is over and a retention period has passed: produced data
when its download link has expired, a document (Attachment) when its request has ended
(ENDED_STATUSES). The period is the instrument's where the law sets one (instruments.py,
retention_days: TCO removed content, six months), else PORTAL_RETENTION_DAYS. The due time is a
column (purge_due_at), set when it becomes known, swept by a beat task (tasks.purge_due_files).
A purge deletes the file's wrapped data key and its bytes, and writes an event (FILE_PURGED) in
the same transaction: the request's history is the audit. A legal hold set by a lead stops it
(review/services.py, legal_hold_set).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import custody, instruments
from .models import Attachment, LegalRequest, ProducedData, RequestEvent, Status

# A request in one of these statuses is over: its documents' retention starts.
ENDED_STATUSES = frozenset(
    {Status.CLOSED, Status.WITHDRAWN, Status.REFUSED, Status.REFUSED_BY_ENFORCING}
)
# What the lead's dashboard looks ahead to.
COMING_DAYS = 7


def retention_for(instrument: str) -> timedelta:
    days = instruments.rule_for(instrument).retention_days
    return timedelta(days=settings.PORTAL_RETENTION_DAYS if days is None else days)


def produced_purge_due(legal_request: LegalRequest, expires_at: datetime) -> datetime:
    return expires_at + retention_for(legal_request.instrument)


def attachments_schedule_purge(legal_request: LegalRequest, *, ended_at: datetime) -> None:
    """The request has ended: its documents are due for purge after the retention period."""
    legal_request.attachments.filter(purged_at__isnull=True).update(
        purge_due_at=ended_at + retention_for(legal_request.instrument)
    )


def _held_out(queryset):
    return queryset.filter(purged_at__isnull=True, request__legal_hold_at__isnull=True)


def files_due(now: datetime) -> list[Attachment | ProducedData]:
    """Every file whose purge time has come, on requests under no legal hold."""
    return [
        *_held_out(Attachment.objects.filter(purge_due_at__lte=now)),
        *_held_out(ProducedData.objects.filter(purge_due_at__lte=now)),
    ]


def files_coming(now: datetime, days: int = COMING_DAYS) -> list[Attachment | ProducedData]:
    """The files the sweep will purge in the next `days` days (the lead's dashboard), soonest
    first; a held request's files are not coming."""
    until = now + timedelta(days=days)
    rows = [
        *_held_out(Attachment.objects.filter(purge_due_at__lte=until)).select_related("request"),
        *_held_out(ProducedData.objects.filter(purge_due_at__lte=until)).select_related("request"),
    ]
    return sorted(rows, key=lambda row: (row.purge_due_at, row.pk))


@transaction.atomic
def file_purge(*, stored: Attachment | ProducedData, now: datetime) -> bool:
    """Purge one file: its data key and its bytes, the event in the same transaction. Claimed
    by a conditional update, so a sweep run twice (or a redelivered task) purges it once; a
    hold set meanwhile wins. False when nothing was done."""
    model = type(stored)
    claimed = model.objects.filter(
        pk=stored.pk,
        purged_at__isnull=True,
        purge_due_at__lte=now,
        request__legal_hold_at__isnull=True,
    ).update(purged_at=now, wrapped_key="", file="")
    if claimed != 1:
        return False
    name = stored.file.name
    # Without its key the ciphertext is already unreadable; the bytes go once the row says so.
    transaction.on_commit(lambda: stored.file.storage.delete(name) if name else None)
    RequestEvent.objects.create(
        request_id=stored.request_id,
        kind=RequestEvent.Kind.FILE_PURGED,
        actor=None,
        at=now,
        detail=f"{stored.original_name[:150]} ({stored.public_id}), sha256 {stored.sha256}",
    )
    return True


def files_purge_due(now: datetime | None = None) -> int:
    """The beat sweep: purge every file due (idempotent: a second run finds nothing)."""
    now = now or timezone.now()
    return sum(file_purge(stored=stored, now=now) for stored in files_due(now))


# --- Rotation ----------------------------------------------------------------------------------


def data_keys_rotate() -> int:
    """Re-wrap every stored data key with the newest master key (the files are not touched),
    one row at a time under its lock; the number re-wrapped."""
    count = 0
    for model in (Attachment, ProducedData):
        for pk in model.objects.exclude(wrapped_key="").values_list("pk", flat=True).iterator():
            with transaction.atomic():
                row = model.objects.select_for_update().filter(pk=pk).exclude(wrapped_key="")
                stored = row.first()
                if stored is None:  # purged meanwhile
                    continue
                model.objects.filter(pk=pk).update(
                    wrapped_key=custody.data_key_rewrap(stored.wrapped_key)
                )
                count += 1
    return count
