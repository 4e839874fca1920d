"""An officer of another authority meets 404 on every URL of a request that is not theirs, for
every method, and never sees it in a list. The URL list is read from the URLconf, so a new request
URL is covered (or fails this test) without anyone remembering to add it."""

import pytest
from django.urls import get_resolver, reverse

from authorities.constants import Instrument
from requests_app.models import Attachment, LegalRequest
from tests.conftest import verified_login
from tests.requests_app.helpers import pdf_upload, submit

pytestmark = pytest.mark.django_db


def request_urls(req: LegalRequest, attachment: Attachment) -> list[str]:
    """Every requests_app URL that names an object, filled with this request's ids."""
    _, resolver = get_resolver().namespace_dict["requests"]
    urls = []
    for name in resolver.reverse_dict:
        if not isinstance(name, str):
            continue
        pattern = resolver.reverse_dict.getlist(name)[0][0][0][1]
        if "public_id" not in pattern:
            continue
        kwargs = {"public_id": req.public_id}
        if "attachment_id" in pattern:
            kwargs["attachment_id"] = attachment.public_id
        urls.append(reverse(f"requests:{name}", kwargs=kwargs))
    return urls


@pytest.fixture
def a_request(client, officer):
    verified_login(client, officer)
    submit(client, Instrument.EPOC)
    req = LegalRequest.objects.get()
    client.post(
        reverse("requests:message", args=[req.public_id]),
        {"body": "More", "files": [pdf_upload("more.pdf")]},
    )
    return req


def test_every_request_url_is_404_for_an_officer_of_another_authority(client, a_request, outsider):
    attachment = a_request.attachments.first()
    urls = request_urls(a_request, attachment)
    assert len(urls) == 6  # detail, edit, messages, withdraw, preservation, documents
    before = (a_request.status, a_request.messages.count(), a_request.events.count())
    verified_login(client, outsider)
    cells = 0
    for url in urls:
        for method in ("get", "post"):
            response = getattr(client, method)(url, {"body": "x", "reason": "x"})
            assert response.status_code in (404, 405), (method, url, response.status_code)
            if response.status_code == 405:  # method not allowed must not be a way around 404
                assert method == "get" and url.endswith(
                    ("/messages/", "/withdraw/", "/preservation/")
                )
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
    assert client.get(reverse("requests:detail", args=[a_request.public_id])).status_code == 200
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
