"""An officer of another authority meets 404 on every URL of a request that is not theirs, for
every method, and never sees it in a list. The URL list is read from the URLconf, so a new request
URL is covered (or fails this test) without anyone remembering to add it."""

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import get_resolver, reverse

from authorities.constants import Instrument
from requests_app.models import Attachment, LegalRequest
from requests_app.review import services as review_services
from tests.conftest import verified_login
from tests.requests_app.helpers import pdf_upload, submit

pytestmark = pytest.mark.django_db


def request_urls(legal_request: LegalRequest, attachment: Attachment, produced) -> list[str]:
    """Every requests_app URL that names an object, filled with this request's ids."""
    _, resolver = get_resolver().namespace_dict["requests"]
    urls = []
    for name in resolver.reverse_dict:
        if not isinstance(name, str):
            continue
        pattern = resolver.reverse_dict.getlist(name)[0][0][0][1]
        if "public_id" not in pattern:
            continue
        kwargs = {"public_id": legal_request.public_id}
        if "attachment_id" in pattern:
            kwargs["attachment_id"] = attachment.public_id
        if "produced_id" in pattern:
            kwargs["produced_id"] = produced.public_id
        if "document_id" in pattern:  # a sealed notice or delivery manifest
            kwargs["document_id"] = legal_request.sealed_documents.first().public_id
        urls.append(reverse(f"requests:{name}", kwargs=kwargs))
    return urls


@pytest.fixture
def a_request(client, officer, reviewer):
    """A request with everything an officer can open: documents, a message, produced data and
    a refusal notice."""
    verified_login(client, officer)
    submit(client, Instrument.EPOC)
    legal_request = LegalRequest.objects.get()
    client.post(
        reverse("requests:message", args=[legal_request.public_id]),
        {"body": "More", "files": [pdf_upload("more.pdf")]},
    )
    review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
    review_services.legal_request_respond(
        reviewer=reviewer,
        legal_request=legal_request,
        partial=True,
        note="Content not stored",
        files=[SimpleUploadedFile("export.csv", b"a,b\n")],
    )
    review_services.legal_request_refuse(
        reviewer=reviewer,
        legal_request=legal_request,
        ground="data_not_stored",
        explanation="Not stored",
    )
    legal_request.refresh_from_db()
    return legal_request


def test_every_request_url_is_404_for_an_officer_of_another_authority(client, a_request, outsider):
    attachment = a_request.attachments.first()
    urls = request_urls(a_request, attachment, a_request.produced.get())
    # detail, edit, messages, withdraw, delete draft, copy, preservation, validation, notice,
    # receipt, sealed notices and manifests, produced data, documents
    assert len(urls) == 13
    before = (a_request.status, a_request.messages.count(), a_request.events.count())
    verified_login(client, outsider)
    cells = 0
    for url in urls:
        for method in ("get", "post"):
            response = getattr(client, method)(url, {"body": "x", "reason": "x"})
            assert response.status_code in (404, 405), (method, url, response.status_code)
            if response.status_code == 405:
                # A wrong method is refused before any lookup: the same answer for an id that
                # does not exist, so it tells the outsider nothing.
                unknown = url.replace(str(a_request.public_id), str(uuid.uuid4()))
                assert getattr(client, method)(unknown).status_code == 405
            cells += 1
    a_request.refresh_from_db()
    assert (a_request.status, a_request.messages.count(), a_request.events.count()) == before
    assert cells == 2 * len(urls)


def test_lists_never_show_another_authoritys_requests(client, a_request, outsider):
    verified_login(client, outsider)
    page = client.get(reverse("requests:list")).content.decode()
    assert a_request.reference not in page
    for status in ("submitted", "draft", ""):
        assert (
            a_request.reference
            not in client.get(reverse("requests:list"), {"status": status}).content.decode()
        )


def test_the_same_urls_work_for_the_owner(client, a_request, officer):
    verified_login(client, officer)
    attachment = a_request.attachments.first()
    produced = a_request.produced.get()
    assert client.get(reverse("requests:detail", args=[a_request.public_id])).status_code == 200
    assert client.get(reverse("requests:notice", args=[a_request.public_id])).status_code == 200
    produced_url = reverse("requests:produced", args=[a_request.public_id, produced.public_id])
    assert client.get(produced_url).status_code == 200
    response = client.get(
        reverse("requests:attachment", args=[a_request.public_id, attachment.public_id])
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")


def test_colleague_at_the_same_authority_is_404_unless_the_authority_shares(
    client, a_request, colleague, authority
):
    verified_login(client, colleague)
    detail = reverse("requests:detail", args=[a_request.public_id])
    assert client.get(detail).status_code == 404
    authority.colleagues_see_requests = True
    authority.save()
    assert client.get(detail).status_code == 200
