import pytest
from django.core import mail

from authorities.constants import Instrument
from requests_app.models import LegalRequest
from tests.conftest import verified_login
from tests.requests_app.helpers import delivered_emails, submit

pytestmark = pytest.mark.django_db


def test_epoc_submission_smoke(client, officer):
    verified_login(client, officer)
    response = submit(client, Instrument.EPOC)
    assert response.status_code == 302, response.content.decode()[-3000:]
    legal_request = LegalRequest.objects.get()
    assert legal_request.reference.startswith("LR-")
    page = client.get(response.url)
    assert legal_request.reference in page.content.decode()
    emails = delivered_emails(mail.outbox)
    assert any(legal_request.reference in m.subject for m in emails)
