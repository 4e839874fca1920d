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

import hashlib
import io
import textwrap
import unicodedata

from django.core.files.base import ContentFile
from django.utils import timezone, translation
from django.utils.translation import gettext
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PdfFileWriter

from portal.emails import local_time

from . import instruments, seal
from .models import LegalRequest, Receipt

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN = 56
FONT_SIZE = 10
LEADING = 14
LINES_PER_PAGE = (PAGE_HEIGHT - 2 * MARGIN) // LEADING
WRAP_AT = 92  # characters of Helvetica 10 pt in the text width, with room to spare


def receipt_issue(*, legal_request: LegalRequest) -> Receipt:
    """Write, seal and store the receipt of a request just submitted (call it in the
    submission's transaction, once received_at and the deadlines are set)."""
    info = seal.seal_info()
    pdf = receipt_pdf(legal_request, demo=info.is_demo)
    sealed = seal.seal_pdf(pdf, reason=f"Receipt of {legal_request.reference}")
    receipt = Receipt(
        request=legal_request,
        size=len(sealed.pdf),
        sha256=hashlib.sha256(sealed.pdf).hexdigest(),
        sealed_at=timezone.now(),
        seal_subject=info.subject[:300],
        timestamped=sealed.timestamped,
    )
    receipt.file.save("receipt", ContentFile(sealed.pdf), save=False)
    receipt.save()
    return receipt


def receipt_lines(legal_request: LegalRequest, *, demo: bool = False) -> list[str]:
    """The receipt's text, in the officer's language; times in UTC and in their time zone."""
    officer = legal_request.officer
    zone = officer.time_zone or "UTC"

    def both(value) -> str:
        utc = local_time(value, "UTC")
        return utc if zone == "UTC" else f"{local_time(value, zone)} ({utc})"

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
            gettext("Issuing authority: %(authority)s (%(country)s)")
            % {
                "authority": legal_request.authority.name_en,
                "country": legal_request.authority.country,
            },
            gettext("Officer: %(name)s <%(email)s>")
            % {"name": officer.full_name, "email": officer.email},
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
    wrapped = []
    for line in lines:
        wrapped += textwrap.wrap(line, WRAP_AT) or [""]
    return wrapped


def _legal_limit(legal_request: LegalRequest, both) -> str:
    """As the request page says it (templatetags.portal_requests.legal_limit)."""
    if legal_request.legal_due_at is not None:
        return both(legal_request.legal_due_at)
    rule = instruments.rule_for(legal_request.instrument)
    if rule.legal_period_for(emergency=legal_request.is_emergency) is None:
        return gettext("No fixed legal limit (without undue delay)")
    return gettext("Clock stopped")


def receipt_pdf(legal_request: LegalRequest, *, demo: bool = False) -> bytes:
    """The unsealed PDF: Helvetica (a standard font, nothing embedded), one line per row."""
    lines = receipt_lines(legal_request, demo=demo)
    writer = PdfFileWriter()
    writer.document_meta.title = f"Receipt {legal_request.reference}"
    font = writer.add_object(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Font"),
                generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
                generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
                generic.NameObject("/Encoding"): generic.NameObject("/WinAnsiEncoding"),
            }
        )
    )
    resources = generic.DictionaryObject(
        {generic.NameObject("/Font"): generic.DictionaryObject({generic.NameObject("/F1"): font})}
    )
    for start in range(0, len(lines), LINES_PER_PAGE):
        content = _page_content(lines[start : start + LINES_PER_PAGE])
        page = generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Page"),
                generic.NameObject("/MediaBox"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (0, 0, PAGE_WIDTH, PAGE_HEIGHT)]
                ),
                generic.NameObject("/Resources"): resources,
                generic.NameObject("/Contents"): writer.add_object(
                    generic.StreamObject(stream_data=content)
                ),
            }
        )
        writer.insert_page(page)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def _page_content(lines: list[str]) -> bytes:
    parts = [
        b"BT",
        b"/F1 %d Tf" % FONT_SIZE,
        b"%d TL" % LEADING,
        b"%d %d Td" % (MARGIN, PAGE_HEIGHT - MARGIN),
    ]
    for line in lines:
        parts.append(b"(" + _pdf_text(line) + b") Tj T*")
    parts.append(b"ET")
    return b"\n".join(parts)


def _pdf_text(text: str) -> bytes:
    """A line in WinAnsi (the standard fonts' encoding): accents kept where it has them, other
    letters by their base letter (NFKD), anything else as '?'; PDF string syntax escaped."""
    encoded = bytearray()
    for char in text:
        try:
            encoded += char.encode("cp1252")
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", char).encode("ascii", "ignore")
            encoded += base or b"?"
    return bytes(encoded).replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
