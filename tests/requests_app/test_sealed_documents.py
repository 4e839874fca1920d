"""The sealed notices (refusal, clarification request: e-Evidence Annex III) and delivery
manifests (issue 18): written and sealed in the legal team's action, checked here as an
authority would, with pyHanko's validator trusting the platform's CA."""

import hashlib
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from authorities.constants import Instrument
from requests_app.models import AccessLog, LegalRequest, RequestEvent, SealedDocument
from requests_app.review import services as review_services
from tests.conftest import verified_login
from tests.requests_app.helpers import delivered_emails, pdf_text, seal_validation, submit

pytestmark = pytest.mark.django_db

Kind = SealedDocument.Kind
PARIS = ZoneInfo("Europe/Paris")


def _both(at) -> str:
    """A time as the documents write it for the officer in Paris: local, then UTC."""
    return f"{at.astimezone(PARIS):%Y-%m-%d %H:%M %Z} ({at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"


@pytest.fixture
def in_review(client, officer, reviewer) -> LegalRequest:
    """An EPOC the officer submitted (through the pages) and the legal team accepted."""
    officer.preferred_language = "en"
    officer.time_zone = "Europe/Paris"
    officer.save(update_fields=["preferred_language", "time_zone"])
    reviewer.full_name = "Ana Legal"
    reviewer.save(update_fields=["full_name"])
    verified_login(client, officer)
    assert submit(client, Instrument.EPOC).status_code == 302
    legal_request = LegalRequest.objects.get()
    review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
    delivered_emails(mail.outbox)  # the acknowledgment and the acceptance, out of the way
    mail.outbox.clear()
    return legal_request


def _refuse(legal_request, reviewer) -> SealedDocument:
    review_services.legal_request_refuse(
        reviewer=reviewer,
        legal_request=legal_request,
        ground="manifest_error",
        explanation="The target account is given twice\nwith two different spellings.",
    )
    return SealedDocument.objects.get(kind=Kind.REFUSAL_NOTICE)


def _clarify(legal_request, reviewer) -> SealedDocument:
    review_services.legal_request_ask_clarification(
        reviewer=reviewer,
        legal_request=legal_request,
        question="Which of the two accounts is meant?\nPlease give its user id.",
    )
    return SealedDocument.objects.get(kind=Kind.CLARIFICATION_NOTICE)


FILES = {"export.csv": b"id,name\n1,a\n", "messages.json": b'{"messages": []}'}


def _respond(legal_request, reviewer, *, partial=False, files=FILES) -> SealedDocument:
    review_services.legal_request_respond(
        reviewer=reviewer,
        legal_request=legal_request,
        partial=partial,
        note="Account data only." if partial else "",
        files=[SimpleUploadedFile(name, content) for name, content in files.items()],
    )
    return SealedDocument.objects.filter(kind=Kind.DELIVERY_MANIFEST).last()


ISSUE = {
    Kind.REFUSAL_NOTICE: _refuse,
    Kind.CLARIFICATION_NOTICE: _clarify,
    Kind.DELIVERY_MANIFEST: _respond,
}


@pytest.mark.parametrize("kind", list(ISSUE))
def test_each_action_stores_a_sealed_pdf_intact_and_trusted(kind, in_review, reviewer, platform_ca):
    document = ISSUE[kind](in_review, reviewer)

    pdf = document.file.read()
    assert document.request == in_review
    assert document.sha256 == hashlib.sha256(pdf).hexdigest()
    assert document.size == len(pdf)
    assert document.seal_subject == "CN=Portal seal"
    status = seal_validation(pdf, platform_ca)
    assert status.intact and status.valid and status.trusted
    assert status.bottom_line
    assert status.coverage.name == "ENTIRE_FILE"


@pytest.mark.parametrize("kind", list(ISSUE))
def test_one_changed_byte_breaks_the_seal_of_each_document(kind, in_review, reviewer, platform_ca):
    document = ISSUE[kind](in_review, reviewer)
    pdf = bytearray(document.file.read())
    at = pdf.index(in_review.reference.encode()) + len("LR-")
    pdf[at] = ord("9") if pdf[at] != ord("9") else ord("8")

    try:
        status = seal_validation(bytes(pdf), platform_ca)
    except Exception:  # noqa: S110 (a validator that refuses the file is a broken seal too)
        return
    assert not status.intact
    assert not status.bottom_line


def test_refusal_notice_names_the_order_authority_ground_explanation_and_time(in_review, reviewer):
    document = _refuse(in_review, reviewer)
    refusal = RequestEvent.objects.get(kind=RequestEvent.Kind.REFUSED)

    text = pdf_text(document.file.read())

    for expected in (
        "DEMO SEAL",  # the suite's seal is a demo one (tests/settings.py)
        "Notice: the platform cannot comply",
        "Annex III of Regulation (EU) 2023/1543",
        f"Reference: {in_review.reference}",
        "Instrument: European Production Order",
        f"B. Issuing authority: {in_review.authority.name_en} ({in_review.authority.country})",
        "D. Ground: The order contains manifest errors",
        "The target account is given twice with two different spellings.",
        f"F. Date and time of the refusal: {_both(refusal.at)}",
    ):
        assert expected in text, expected
    assert document.event == refusal
    assert document.file_name.startswith(f"refusal-notice-{in_review.reference}-")


def test_clarification_notice_names_the_question_and_the_time(in_review, reviewer):
    document = _clarify(in_review, reviewer)
    asked = RequestEvent.objects.get(kind=RequestEvent.Kind.CLOCK_STOPPED)

    text = pdf_text(document.file.read())

    for expected in (
        "Notice: the platform asks for a clarification",
        f"Reference: {in_review.reference}",
        in_review.authority.name_en,
        "E. Question asked: Which of the two accounts is meant? Please give its user id.",
        f"F. Date and time of the request: {_both(asked.at)}",
        "The legal clock is stopped",
    ):
        assert expected in text, expected
    assert "D. Ground" not in text


def test_delivery_manifest_lists_each_file_its_digest_who_released_it_and_the_expiry(
    in_review, reviewer
):
    document = _respond(in_review, reviewer, partial=True)
    delivery = RequestEvent.objects.get(kind=RequestEvent.Kind.PARTIALLY_RESPONDED)
    expires = in_review.produced.first().expires_at

    text = pdf_text(document.file.read())

    for name, content in FILES.items():
        assert f"- {name} ({len(content)} bytes)" in text
        assert hashlib.sha256(content).hexdigest() in text
    for expected in (
        "Delivery manifest",
        f"Reference: {in_review.reference}",
        "Delivery: partial response",
        "Note: Account data only.",
        "Released by: Ana Legal",
        f"Released at: {_both(delivery.at)}",
        f"Download expires: {_both(expires)}",
    ):
        assert expected in text, expected


def test_each_delivery_has_its_own_manifest_of_its_own_files(in_review, reviewer):
    first = _respond(in_review, reviewer, partial=True, files={"part-1.csv": b"1"})
    second = _respond(in_review, reviewer, files={"part-2.csv": b"22"})

    assert first != second
    first_text, second_text = pdf_text(first.file.read()), pdf_text(second.file.read())
    assert "part-1.csv" in first_text and "part-2.csv" not in first_text
    assert "part-2.csv" in second_text and "part-1.csv" not in second_text
    assert "Delivery: response" in second_text


def _download(client, document):
    return client.get(
        reverse("requests:sealed", args=[document.request.public_id, document.public_id])
    )


@pytest.mark.parametrize("kind", list(ISSUE))
def test_officer_downloads_each_document_from_the_request_page_and_it_is_audited(
    kind, client, officer, in_review, reviewer
):
    document = ISSUE[kind](in_review, reviewer)
    url = reverse("requests:sealed", args=[in_review.public_id, document.public_id])
    page = client.get(reverse("requests:detail", args=[in_review.public_id])).content.decode()
    assert url in page
    assert document.sha256 in page

    response = client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert document.file_name in response["Content-Disposition"]
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == document.sha256
    log = AccessLog.objects.filter(action=AccessLog.Action.OPEN_ATTACHMENT).get()
    assert (log.user, log.request) == (officer, in_review)
    assert log.object_ref.startswith(document.file_name)


def test_the_manifest_link_is_beside_the_produced_data(client, in_review, reviewer):
    document = _respond(in_review, reviewer)
    page = client.get(reverse("requests:detail", args=[in_review.public_id])).content.decode()

    produced = page.index("Produced data")
    manifest = page.index(
        reverse("requests:sealed", args=[in_review.public_id, document.public_id])
    )
    messages = page.index("<h2>Messages</h2>")
    assert produced < manifest < messages


def test_the_notice_page_offers_the_sealed_notice(client, in_review, reviewer):
    document = _refuse(in_review, reviewer)

    page = client.get(reverse("requests:notice", args=[in_review.public_id])).content.decode()

    assert reverse("requests:sealed", args=[in_review.public_id, document.public_id]) in page
    assert document.sha256 in page


@pytest.mark.parametrize("kind", list(ISSUE))
def test_another_authoritys_officer_gets_404_for_each_document(
    kind, client, in_review, reviewer, outsider
):
    document = ISSUE[kind](in_review, reviewer)
    verified_login(client, outsider)

    assert _download(client, document).status_code == 404
    assert not AccessLog.objects.filter(user=outsider).exists()


def test_a_document_of_another_request_is_404_under_this_one(client, officer, in_review, reviewer):
    """The document's id alone does not open it: it must belong to the request in the URL."""
    document = _refuse(in_review, reviewer)
    assert submit(client, Instrument.EPOC).status_code == 302
    other = LegalRequest.objects.exclude(pk=in_review.pk).get()

    url = reverse("requests:sealed", args=[other.public_id, document.public_id])
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("kind", "download"),
    [
        (Kind.REFUSAL_NOTICE, "download the notice"),
        (Kind.CLARIFICATION_NOTICE, "download the notice"),
        (Kind.DELIVERY_MANIFEST, "download the manifest"),
    ],
)
def test_the_officers_email_names_the_sealed_document_without_carrying_it(
    kind, download, officer, in_review, reviewer
):
    document = ISSUE[kind](in_review, reviewer)

    [email] = [m for m in delivered_emails(mail.outbox) if m.to == [officer.email]]

    url = reverse("requests:sealed", args=[in_review.public_id, document.public_id])
    html = email.alternatives[0][0]
    for part in (email.body, html):
        assert document.sha256 in part
        assert url in part
    assert download in html
    assert email.attachments == []
    assert "%PDF" not in email.body
    # The content stays in the portal: neither the explanation nor the question is in the e-mail.
    assert "spellings" not in email.body and "user id" not in email.body
