"""The sealed receipt of a submitted request (issue 18; docs/receipts.md).

At submission, in the same transaction, the platform writes a one-or-more-page PDF saying what
it received and when (reference, instrument, authority, officer, the time of receipt in UTC and
in the officer's time zone, the SHA-256 of every document, the deadlines as the request page
shows them), seals it with its seal (requests_app.seal, PAdES) and stores it as a private file
with its own SHA-256 (models.Receipt).

Why at submission and not in a Celery task: sealing with a local key takes milliseconds, and
done in the submission's transaction the receipt exists exactly when the request does (nothing
to retry, no request without one), and the acknowledgment e-mail, queued in that transaction,
can name its SHA-256. The one slow part, a time-stamping authority, has a timeout and falls back
to an untimestamped seal (seal.seal_pdf).
"""

from django.utils import translation
from django.utils.translation import gettext

from portal.emails import local_time

from . import instruments, sealing
from .models import LegalRequest, Receipt


def receipt_issue(*, legal_request: LegalRequest) -> Receipt:
    """Write, seal and store the receipt of a request just submitted (call it in the
    submission's transaction, once received_at and the deadlines are set)."""
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
