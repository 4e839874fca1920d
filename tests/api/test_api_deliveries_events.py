"""Deliveries through the same expiring, audited links as the pages; the event feed."""

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from requests_app.models import AccessLog, LegalRequest
from requests_app.review import services as review_services

from .helpers import approved_client, auth, call, epoc_body, new_key
from .test_api_requests import upload

pytestmark = pytest.mark.django_db

LIST = "/api/v1/requests/"


@pytest.fixture
def answered(client, officer, staff, reviewer):
    _, token = approved_client(officer, staff)
    draft = call(client, "post", LIST, token, epoc_body(), new_key()).json()
    upload(client, token, draft["id"])
    call(client, "post", f"{LIST}{draft['id']}/submit/", token, {})
    legal_request = LegalRequest.objects.get(public_id=draft["id"])
    review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
    review_services.legal_request_respond(
        reviewer=reviewer,
        legal_request=legal_request,
        files=[SimpleUploadedFile("export.csv", b"a,b\n")],
    )
    return token, draft["id"]


def test_delivery_downloaded_and_audited(client, answered, officer):
    token, request_id = answered
    deliveries = call(client, "get", f"{LIST}{request_id}/deliveries/", token).json()
    assert [d["name"] for d in deliveries] == ["export.csv"]
    response = client.get(deliveries[0]["download"], **auth(token))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"a,b\n"
    row = AccessLog.objects.get(action=AccessLog.Action.DOWNLOAD_PRODUCED)
    assert row.user == officer


def test_expired_delivery_is_410_and_audited(client, answered):
    token, request_id = answered
    deliveries = call(client, "get", f"{LIST}{request_id}/deliveries/", token).json()
    with time_machine.travel(timezone.now() + timedelta(days=400)):
        # A token lives 90 days: a new one, as a case system would have by then.
        legal_request = LegalRequest.objects.get(public_id=request_id)
        from authorities.models import User

        staff = User.objects.get(email="admin@platform.example")
        _, fresh = approved_client(legal_request.officer, staff)
        response = client.get(deliveries[0]["download"], **auth(fresh))
    assert response.status_code == 410
    assert response["Content-Type"] == "application/problem+json"
    assert AccessLog.objects.filter(action=AccessLog.Action.DOWNLOAD_REFUSED).exists()


def test_event_feed_since_a_cursor(client, answered):
    token, request_id = answered
    feed = call(client, "get", "/api/v1/events/", token).json()
    kinds = [event["kind"] for event in feed["events"]]
    assert "submitted" in kinds and "responded" in kinds
    assert all(event["request"] == request_id for event in feed["events"])
    rest = call(client, "get", "/api/v1/events/", token, {"after": feed["next_cursor"]}).json()
    assert rest["events"] == [] and rest["next_cursor"] == feed["next_cursor"]
    middle = feed["events"][0]["cursor"]
    after = call(client, "get", "/api/v1/events/", token, {"after": middle}).json()
    assert len(after["events"]) == len(feed["events"]) - 1


def test_purged_delivery_is_410_with_the_date_of_the_purge(client, answered):
    from requests_app.models import ProducedData
    from requests_app.retention import files_purge_due

    token, request_id = answered
    deliveries = call(client, "get", f"{LIST}{request_id}/deliveries/", token).json()
    produced = ProducedData.objects.get()
    with time_machine.travel(produced.purge_due_at, tick=False):
        assert files_purge_due() == 1
        legal_request = LegalRequest.objects.get(public_id=request_id)
        from authorities.models import User

        staff = User.objects.get(email="admin@platform.example")
        _, fresh = approved_client(legal_request.officer, staff)
        response = client.get(deliveries[0]["download"], **auth(fresh))
    assert response.status_code == 410
    assert f"purged on {produced.purge_due_at:%Y-%m-%d}" in response.json()["detail"]
