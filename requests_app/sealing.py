"""What every sealed PDF of the platform shares (issue 18; docs/receipts.md): the receipt of a
submission (receipts.py), the Annex III-style notices and the delivery manifests
(sealed_documents.py) are lines of text in a plain PDF, sealed with the platform's seal
(seal.py, PAdES) and stored with their own SHA-256 in a models.SealedFile row.

The PDF is written with pyHanko's own writer: Helvetica (a standard font, nothing embedded),
one line per row, the content streams uncompressed (the tests read the text as written).
"""

import hashlib
import io
import textwrap
import unicodedata

from django.core.files.base import ContentFile
from django.db import IntegrityError
from django.utils import timezone
from django.utils.translation import gettext
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PdfFileWriter

from portal.emails import local_time

from . import seal
from .models import SealedFile

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN = 56
FONT_SIZE = 10
LEADING = 14
LINES_PER_PAGE = (PAGE_HEIGHT - 2 * MARGIN) // LEADING
WRAP_AT = 92  # characters of Helvetica 10 pt in the text width, with room to spare


def seal_and_store(document: SealedFile, *, lines: list[str], title: str, reason: str) -> None:
    """Write `lines` as a PDF, seal it and save it with `document` (a Receipt or a
    SealedDocument whose request, and kind, are set). A document that exists already is never
    replaced: the insert raises IntegrityError."""
    info = seal.seal_info()
    sealed = seal.seal_pdf(text_pdf(lines, title=title), reason=reason)
    document.size = len(sealed.pdf)
    document.sha256 = hashlib.sha256(sealed.pdf).hexdigest()
    document.sealed_at = timezone.now()
    document.seal_subject = info.subject[:300]
    document.timestamped = sealed.timestamped
    document.file.save("sealed", ContentFile(sealed.pdf), save=False)
    try:
        document.save()
    except IntegrityError:
        # Issued already by someone else (one receipt per request, one document per event):
        # theirs stands, and the file just written is nobody's.
        document.file.delete(save=False)
        raise


def is_demo() -> bool:
    """The configured seal is a demo one: every document sealed with it says so first."""
    return seal.seal_info().is_demo


def both_times(value, zone: str) -> str:
    """A time in the reader's zone with UTC beside it (UTC alone for a reader in UTC)."""
    utc = local_time(value, "UTC")
    return utc if zone == "UTC" else f"{local_time(value, zone)} ({utc})"


def wrapped(lines: list[str]) -> list[str]:
    """Long lines cut at word boundaries to the page's width; an empty line stays one."""
    out = []
    for line in lines:
        out += textwrap.wrap(line, WRAP_AT) or [""]
    return out


def text_pdf(lines: list[str], *, title: str) -> bytes:
    """The unsealed PDF: `lines` (already wrapped) from the top of an A4 page, new pages as
    needed."""
    writer = PdfFileWriter()
    writer.document_meta.title = title
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


def authority_lines(legal_request) -> list[str]:
    """Who issued the order, as every sealed document names them (receipt, notice, manifest)."""
    officer = legal_request.officer
    return [
        gettext("Issuing authority: %(authority)s (%(country)s)")
        % {
            "authority": legal_request.authority.name_en,
            "country": legal_request.authority.country,
        },
        gettext("Officer: %(name)s <%(email)s>")
        % {"name": officer.full_name, "email": officer.email},
    ]
