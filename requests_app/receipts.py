"""The sealed receipt of a submitted request (issue 18; docs/receipts.md).

For every submitted request the platform writes a one-or-more-page PDF saying what it received
and when (reference, instrument, authority, officer, the time of receipt in UTC and in the
officer's time zone, the SHA-256 of every document, the deadlines as the request page shows
them), seals it with its seal (requests_app.seal, PAdES) and stores it as a private file with
its own SHA-256 (models.Receipt).

Not in the submission's request: sealing costs tens of milliseconds of CPU (and up to the
time-stamping authority's timeout), which made the submission twelve times slower than its
target under load (docs/performance.md). The submission writes an OwedReceipt row in its
transaction, the record that a receipt is owed; after commit a Celery task seals it, and a
beat sweep hands out again any receipt still owed (a lost task, a Redis flush, a worker that
died while sealing), with the outbox's rules (requests_app/outbox.py): a lease, so that two
workers never seal the same receipt; backoff between failed attempts; one receipt per request
(a one-to-one row), its sealed bytes never replaced once issued.

The acknowledgment e-mail names the receipt by its SHA-256, so it is queued in the receipt's
own transaction, once the receipt exists. Until then the request's page and the API say the
receipt is being prepared.
"""

import logging
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from portal.emails import absolute_url, local_time
from portal.logs import reference_bound

from . import instruments, sealing
from .lifecycle import notify_authority
from .models import LegalRequest, OwedReceipt, Receipt
from .outbox import Outbox, retry_delay

logger = logging.getLogger(__name__)
State = OwedReceipt.State
ISSUE_TASK = "requests_app.tasks.issue_receipts"
# A worker holds an owed receipt this long; after that, the sweep takes it for dead. Far more
# than a sealing takes, a time-stamping authority's timeout (10 s) included.
LEASE = timedelta(seconds=settings.PORTAL_RECEIPT_LEASE_SECONDS)
OUTBOX = Outbox(
    model=OwedReceipt,
    task=ISSUE_TASK,
    lease=LEASE,
    batch=10,
    pending=State.PENDING,
    working=State.SEALING,
)


def receipt_owe(*, legal_request: LegalRequest) -> OwedReceipt:
    """Record, in the submission's transaction, that the request's receipt is owed; a worker
    seals it after commit (receipts_issue)."""
    # A plain insert (one query): a request is submitted once, under its row's lock.
    owed = OwedReceipt.objects.create(request=legal_request)
    OUTBOX.hand_off_after_commit([owed.pk])
    return owed


def receipts_due(limit: int = 500) -> list[int]:
    """The owed receipts the sweep hands out: pending ones whose time came, and those whose
    worker died while sealing (its lease ran out)."""
    return OUTBOX.due(limit)


def receipts_failing() -> int:
    """Receipts still owed after PORTAL_ALERT_FAILURE_BANNER attempts (the seal cannot be read,
    the storage refuses): /healthz says so, as for the e-mails. Read through the pending
    index: issued rows, nearly all of them, are not counted."""
    return OwedReceipt.objects.filter(
        state__in=[State.PENDING, State.SEALING],
        attempts__gte=settings.PORTAL_ALERT_FAILURE_BANNER,
    ).count()


def receipts_issue(owed_ids: Sequence[int]) -> int:
    """Issue the receipts owed by these rows; returns how many this call issued. Safe to call
    twice at once, or after a crash: only the holder of an unexpired lease seals a receipt.

    1. Claim the rows due and not held (outbox.Outbox.claim): a lease and one attempt more.
    2. For each, in one transaction: the request's receipt, sealed and stored unless it exists
       already (a worker that died after its commit); the acknowledgment e-mail, which names
       it (queued once: its key is unique); the row marked issued.
    3. A failure is recorded on its row and retried with backoff; the next row is issued.
    4. Rows not reached within half the lease go back to pending and are handed out again.
    """
    return OUTBOX.work(owed_ids, _issue_one)


def _issue_one(pk: int) -> int:
    owed = (
        OwedReceipt.objects.select_related("request__officer", "request__authority")
        .filter(pk=pk)
        .first()
    )
    if owed is None:  # its request was deleted since the claim
        return 0
    legal_request = owed.request
    with reference_bound(legal_request.reference):
        try:
            with transaction.atomic():
                receipt = Receipt.objects.filter(request=legal_request).first()
                if receipt is None:
                    receipt = receipt_issue(legal_request=legal_request)
                _acknowledge(legal_request, receipt)
                OwedReceipt.objects.filter(pk=pk, state=State.SEALING).update(
                    state=State.ISSUED, issued_at=timezone.now(), lease_until=None, last_error=""
                )
        except Exception as exc:
            _record_failure(pk, exc)
            return 0
    return 1


def _acknowledge(legal_request: LegalRequest, receipt: Receipt) -> None:
    """The acknowledgment to the officer (DSA: confirm receipt): it names the receipt, its
    SHA-256 and where to download it, never its content."""
    notify_authority(
        legal_request,
        key="ack",
        template="request_received",
        extra={
            "receipt_sha256": receipt.sha256,
            "receipt_link": absolute_url(
                reverse("requests:receipt", args=[legal_request.public_id])
            ),
        },
    )


def _record_failure(pk: int, exc: Exception) -> None:
    """Back off and keep trying: a receipt is owed until it is issued."""
    attempts = OwedReceipt.objects.filter(pk=pk).values_list("attempts", flat=True).first() or 0
    OwedReceipt.objects.filter(pk=pk, state=State.SEALING).update(
        state=State.PENDING,
        lease_until=None,
        send_after=timezone.now() + retry_delay(attempts),
        last_error=f"{type(exc).__name__}: {exc}"[:500],
    )
    logger.exception("receipt owed (row %s) not issued, attempt %s", pk, attempts)


def receipts_issue_all_due() -> int:
    """Issue every owed receipt that is due, in this process (tests use it)."""
    return OUTBOX.work_all_due(receipts_issue)


def receipt_issue(*, legal_request: LegalRequest) -> Receipt:
    """Write, seal and store the receipt of a submitted request (receipts_issue calls it,
    after the submission committed)."""
    receipt = Receipt(request=legal_request)
    sealing.seal_and_store(
        receipt,
        lines=receipt_lines(legal_request, demo=sealing.is_demo()),
        title=f"Receipt {legal_request.reference}",
        reason=f"Receipt of {legal_request.reference}",
    )
    return receipt


def receipt_lines(legal_request: LegalRequest, *, demo: bool = False) -> list[str]:
    """The receipt's text, in the officer's language; times in UTC and in their time zone."""
    officer = legal_request.officer
    zone = officer.time_zone or "UTC"

    def both(value) -> str:
        return sealing.both_times(value, zone)

    with translation.override(officer.preferred_language or "en"):
        lines = []
        if demo:
            lines += [
                gettext("DEMO SEAL: this receipt is sealed with a demonstration certificate."),
                gettext("It proves nothing; a production platform has a real seal."),
                "",
            ]
        lines += [
            gettext("Receipt of a legal request"),
            "",
            gettext("Reference: %(reference)s") % {"reference": legal_request.reference},
            gettext("Instrument: %(instrument)s")
            % {"instrument": instruments.rule_for(legal_request.instrument).label},
            *sealing.authority_lines(legal_request),
            gettext("Received (UTC): %(at)s")
            % {"at": legal_request.received_at.strftime("%Y-%m-%d %H:%M:%S UTC")},
            gettext("Received (%(zone)s): %(at)s")
            % {"zone": zone, "at": local_time(legal_request.received_at, zone)},
            gettext("Internal target: %(at)s")
            % {"at": both(legal_request.due_at) if legal_request.due_at else "-"},
            gettext("Legal time limit: %(at)s") % {"at": _legal_limit(legal_request, both)},
            "",
            gettext("Documents received (SHA-256):"),
        ]
        documents = list(legal_request.attachments.all())
        for document in documents:
            lines.append(f"- {document.original_name} ({document.size} bytes)")
            lines.append(f"  {document.sha256}")
        if not documents:
            lines.append(gettext("(none)"))
        lines += [
            "",
            gettext(
                "The platform sealed this receipt with its electronic seal (PAdES). Any change "
                "to this file breaks the seal. To check it, see the portal's documentation "
                "(docs/receipts.md)."
            ),
        ]
    return sealing.wrapped(lines)


def _legal_limit(legal_request: LegalRequest, both) -> str:
    """As the request page says it (templatetags.portal_requests.legal_limit)."""
    if legal_request.legal_due_at is not None:
        return both(legal_request.legal_due_at)
    rule = instruments.rule_for(legal_request.instrument)
    if rule.legal_period_for(emergency=legal_request.is_emergency) is None:
        return gettext("No fixed legal limit (without undue delay)")
    return gettext("Clock stopped")
