"""Emergencies need a person: an emergency a client submits waits, with no clock, until its
officer confirms it in the pages with a fresh second factor in a passkey session."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from authorities.constants import Instrument
from requests_app.api.models import EmergencyConfirmation
from requests_app.models import LegalRequest, Status
from tests.conftest import current_code, passkey_login, verified_login
from tests.requests_app.helpers import VALID, pdf_upload

from .helpers import approved_client, auth, call, new_key

pytestmark = pytest.mark.django_db

LIST = "/api/v1/requests/"


@pytest.fixture
def waiting(client, officer, staff):
    """An emergency disclosure request a client created and asked to submit."""
    _, token = approved_client(officer, staff)
    body = {**VALID[Instrument.EMERGENCY_DISCLOSURE], "instrument": Instrument.EMERGENCY_DISCLOSURE}
    body["targets"] = body["targets"].split("\n")
    del body["language"]  # not a field of this instrument's form: the API says so (422)
    draft = call(client, "post", LIST, token, body, new_key()).json()
    client.post(f"{LIST}{draft['id']}/documents/", {"file": pdf_upload()}, **auth(token))
    response = call(client, "post", f"{LIST}{draft['id']}/submit/", token, {})
    assert response.status_code == 202, response.content
    return token, response.json()


def test_emergency_through_the_api_waits_for_the_officer_without_a_clock(client, waiting):
    token, body = waiting
    assert body["status"] == "awaiting_officer_confirmation"
    assert body["received_at"] is None and body["internal_deadline"] is None
    assert body["confirmation_page"] == reverse("api_clients:confirm", args=[body["id"]])
    legal_request = LegalRequest.objects.get(public_id=body["id"])
    assert legal_request.status == Status.DRAFT and legal_request.reference is None
    # Asking again changes nothing (and is not a second request).
    again = call(client, "post", f"{LIST}{body['id']}/submit/", token, {})
    assert again.status_code == 202
    assert EmergencyConfirmation.objects.count() == 1


def test_the_officer_is_emailed_the_confirmation_link(waiting, officer, mailoutbox):
    from requests_app.notifications import deliver_all_due

    _, body = waiting
    deliver_all_due()
    (sent,) = [m for m in mailoutbox if "waits for your confirmation" in m.subject]
    assert sent.to == [officer.email]
    assert reverse("api_clients:confirm", args=[body["id"]]) in sent.body
    assert "Imminent threat" not in sent.body  # a link, never the request's content


def test_confirmation_needs_a_passkey_session(client, officer, waiting):
    _, body = waiting
    verified_login(client, officer)  # a code, not a passkey
    page = client.get(reverse("api_clients:confirm", args=[body["id"]]))
    assert page.status_code == 403
    assert LegalRequest.objects.get(public_id=body["id"]).status == Status.DRAFT


def test_confirmation_needs_a_fresh_code(client, officer, waiting):
    _, body = waiting
    passkey_login(client, officer)
    url = reverse("api_clients:confirm", args=[body["id"]])
    assert client.get(url).status_code == 200
    wrong = client.post(url, {"otp_token": "000000"})
    assert wrong.status_code == 200
    assert LegalRequest.objects.get(public_id=body["id"]).status == Status.DRAFT


def test_officer_confirms_and_the_clock_starts_then(client, officer, waiting):
    token, body = waiting
    later = timezone.now() + timedelta(minutes=30)
    with time_machine.travel(later, tick=False):
        passkey_login(client, officer)
        home = client.get(reverse("api_clients:list"))
        assert body["id"] in home.content.decode()  # listed as waiting
        code = current_code(officer.totpdevice_set.get())
        url = reverse("api_clients:confirm", args=[body["id"]])
        response = client.post(url, {"otp_token": code})
    assert response.status_code == 302
    legal_request = LegalRequest.objects.get(public_id=body["id"])
    assert legal_request.status == Status.SUBMITTED
    assert legal_request.received_at == later
    read = call(client, "get", f"{LIST}{body['id']}/", token).json()
    assert read["status"] == Status.SUBMITTED and read["internal_deadline"]


def test_a_colleague_cannot_confirm(client, colleague, waiting):
    _, body = waiting
    passkey_login(client, colleague)
    assert client.get(reverse("api_clients:confirm", args=[body["id"]])).status_code == 404
