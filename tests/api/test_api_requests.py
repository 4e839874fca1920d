"""/api/v1/requests: create a draft (Idempotency-Key), add a document, submit, list, read,
withdraw; the pages' form checks, another authority's request is 404."""

import pytest
from django.urls import reverse

from authorities.constants import Instrument
from requests_app.models import AccessLog, LegalRequest, RequestTarget, Status
from tests.requests_app.helpers import pdf_bytes, pdf_upload

from .helpers import approved_client, auth, call, epoc_body, new_key

pytestmark = pytest.mark.django_db

LIST = "/api/v1/requests/"


@pytest.fixture
def token(officer, staff):
    return approved_client(officer, staff)[1]


def create(client, token, body=None, key=None):
    return call(
        client, "post", LIST, token, epoc_body() if body is None else body, key or new_key()
    )


def upload(client, token, request_id, content=None, name="order.pdf"):
    return client.post(
        f"{LIST}{request_id}/documents/",
        {"file": pdf_upload(name, content)},
        **auth(token),
    )


def test_create_a_draft_with_targets_normalised_as_in_the_form(client, token, officer):
    response = create(client, token)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft" and body["instrument"] == Instrument.EPOC
    draft = LegalRequest.objects.get(public_id=body["id"])
    assert draft.officer == officer
    # "+33 6 12 34 56 78" is stored as the form stores it (identifiers.py).
    assert ("phone", "+33612345678") in [(t["kind"], t["value"]) for t in body["targets"]]


def test_retried_post_with_the_same_key_never_makes_two_requests(client, token):
    key = new_key()
    first = create(client, token, key=key)
    second = create(client, token, key=key)
    assert first.status_code == second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert LegalRequest.objects.count() == 1


def test_the_same_key_for_another_body_is_refused(client, token):
    key = new_key()
    create(client, token, key=key)
    other = create(client, token, epoc_body(case_reference="OTHER"), key=key)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert LegalRequest.objects.count() == 1


def test_create_without_idempotency_key_is_refused(client, token):
    response = call(client, "post", LIST, token, epoc_body())
    assert response.status_code == 422
    assert LegalRequest.objects.count() == 0


def test_invalid_fields_are_problems_naming_each_field(client, token):
    response = create(
        client, token, epoc_body(targets=["not an identifier at all ###"], period_start="soon")
    )
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    fields = {error["field"] for error in response.json()["errors"]}
    assert {"targets", "period_start"} <= fields
    assert LegalRequest.objects.count() == 0


def test_a_field_the_instrument_does_not_have_is_refused(client, token):
    body = {"instrument": Instrument.INQUIRY, "statement_of_reasons": "x", "language": "en"}
    response = create(client, token, {**body, "offence": "fraud"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["offence"]


def test_submit_starts_the_clock_and_read_shows_deadlines(client, token):
    draft = create(client, token).json()
    refused = call(client, "post", f"{LIST}{draft['id']}/submit/", token, {})
    assert refused.status_code == 422  # no signed order document yet: the form's rule
    assert upload(client, token, draft["id"]).status_code == 201
    submitted = call(client, "post", f"{LIST}{draft['id']}/submit/", token, {}, key=new_key())
    assert submitted.status_code == 200, submitted.content
    body = submitted.json()
    assert body["status"] == Status.SUBMITTED and body["reference"].startswith("LR-")
    read = call(client, "get", f"{LIST}{draft['id']}/", token).json()
    assert read["internal_deadline"] and read["legal_time_limit"] and read["received_at"]
    assert read["clock_paused"] is False and read["on_hold"] is False
    again = call(client, "post", f"{LIST}{draft['id']}/submit/", token, {})
    assert again.status_code == 409  # not a draft any more
    assert AccessLog.objects.filter(action=AccessLog.Action.VIEW_REQUEST).exists()


def test_document_refused_as_in_the_form(client, token):
    draft = create(client, token).json()
    refused = upload(client, token, draft["id"], content=b"MZ not a pdf", name="order.pdf")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == ""
    assert "order.pdf" in refused.json()["errors"][0]["detail"]
    assert upload(client, token, draft["id"], content=pdf_bytes(2)).json()["pages"] == 2


def test_add_a_target(client, token):
    draft = create(client, token).json()
    url = f"{LIST}{draft['id']}/targets/"
    added = call(client, "post", url, token, {"identifier": "@New.Account"})
    assert added.status_code == 201
    assert RequestTarget.objects.filter(request__public_id=draft["id"]).count() == 3
    bad = call(client, "post", url, token, {"identifier": "ftp://elsewhere"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "identifier"
    assert len(call(client, "get", url, token).json()) == 3


def test_list_with_filters_and_cursor(client, token):
    for _ in range(3):
        create(client, token)
    create(
        client,
        token,
        {"instrument": Instrument.INQUIRY, "statement_of_reasons": "x", "language": "en"},
    )
    page = call(client, "get", LIST, token, {"page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"]
    rest = client.get(page["next"], **auth(token)).json()
    assert len(rest["results"]) == 2 and rest["next"] is None
    only = call(client, "get", LIST, token, {"instrument": Instrument.INQUIRY}).json()
    assert [r["instrument"] for r in only["results"]] == [Instrument.INQUIRY]
    assert call(client, "get", LIST, token, {"status": "submitted"}).json()["results"] == []
    future = call(client, "get", LIST, token, {"updated_since": "2999-01-01T00:00:00Z"})
    assert future.json()["results"] == []
    assert call(client, "get", LIST, token, {"updated_since": "yesterday"}).status_code == 422


@pytest.mark.parametrize(
    "since, answer",
    [
        # ISO 8601 allows offsets PostgreSQL refuses (beyond 15:59): found by schemathesis.
        ("2026-01-21T20:09:00-16:29", 200),
        # No offset: UTC.
        ("2026-01-21T20:09:00", 200),
        # An offset that moves the time out of the calendar.
        ("0001-01-01T00:00:00+15:00", 422),
        ("9999-12-31T23:59:00-15:00", 422),
    ],
)
def test_updated_since_with_any_offset_is_an_answer_not_a_server_error(
    client, token, since, answer
):
    response = call(client, "get", LIST, token, {"updated_since": since})
    assert response.status_code == answer, response.content


def test_withdraw(client, token):
    draft = create(client, token).json()
    upload(client, token, draft["id"])
    call(client, "post", f"{LIST}{draft['id']}/submit/", token, {})
    url = f"{LIST}{draft['id']}/withdraw/"
    assert call(client, "post", url, token, {}).json()["errors"][0]["field"] == "reason"
    done = call(client, "post", url, token, {"reason": "Case closed"})
    assert done.status_code == 200 and done.json()["status"] == Status.WITHDRAWN


def test_another_authoritys_request_is_404_everywhere(client, token, outsider, staff):
    draft = create(client, token).json()
    _, their_token = approved_client(outsider, staff)
    for suffix in ("", "targets/", "documents/", "messages/", "deliveries/"):
        response = call(client, "get", f"{LIST}{draft['id']}/{suffix}", their_token)
        assert response.status_code == 404, suffix
        assert response["Content-Type"] == "application/problem+json"
    for suffix in ("submit/", "withdraw/", "targets/", "messages/"):
        assert (
            call(client, "post", f"{LIST}{draft['id']}/{suffix}", their_token, {}).status_code
            == 404
        )
    assert call(client, "get", LIST, their_token).json()["results"] == []
    assert call(client, "get", "/api/v1/events/", their_token).json()["events"] == []


def test_read_scope_token_cannot_submit(client, token, officer, staff):
    draft = create(client, token).json()
    _, reader = approved_client(officer, staff, scopes=["read"])
    assert call(client, "get", f"{LIST}{draft['id']}/", reader).status_code == 200
    assert call(client, "post", f"{LIST}{draft['id']}/submit/", reader, {}).status_code == 403


def test_submission_rate_limit_applies(client, token, settings):
    settings.PORTAL_RATE_SUBMISSION = "2/h"
    assert create(client, token).status_code == 201
    assert create(client, token).status_code == 201
    limited = create(client, token)
    assert limited.status_code == 429
    assert limited["Content-Type"] == "application/problem+json"


def test_message_thread_both_ways(client, token, reviewer):
    from requests_app.review import services as review_services

    draft = create(client, token).json()
    upload(client, token, draft["id"])
    call(client, "post", f"{LIST}{draft['id']}/submit/", token, {})
    legal_request = LegalRequest.objects.get(public_id=draft["id"])
    review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
    review_services.legal_request_ask_clarification(
        reviewer=reviewer, legal_request=legal_request, question="Which account exactly?"
    )
    paused = call(client, "get", f"{LIST}{draft['id']}/", token).json()
    assert paused["clock_paused"] is True and paused["status"] == Status.CLARIFICATION
    thread = call(client, "get", f"{LIST}{draft['id']}/messages/", token).json()
    assert thread[-1]["body"] == "Which account exactly?" and thread[-1]["from_platform"]
    answer = call(client, "post", f"{LIST}{draft['id']}/messages/", token, {"body": "@jane.doe"})
    assert answer.status_code == 201
    resumed = call(client, "get", f"{LIST}{draft['id']}/", token).json()
    assert resumed["clock_paused"] is False and resumed["status"] == Status.IN_REVIEW
    with_file = client.post(
        f"{LIST}{draft['id']}/messages/",
        {"body": "The court's decision", "files": [pdf_upload("decision.pdf")]},
        **auth(token),
    )
    assert with_file.status_code == 201, with_file.content
    assert with_file.json()["documents"][0]["name"] == "decision.pdf"
    refused = client.post(
        f"{LIST}{draft['id']}/messages/",
        {"body": "x", "files": [pdf_upload("evil.pdf", b"<html>")]},
        **auth(token),
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "files"


def test_docs_page_needs_a_login(client, officer):
    from tests.conftest import verified_login

    assert client.get(reverse("api:docs")).status_code == 302
    verified_login(client, officer)
    page = client.get(reverse("api:docs"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<style" not in html and "<script>" not in html  # the strict CSP stays
    assert "cdn" not in html.lower()


def test_power_check_applies(client, token, authority):
    """A regulator may not issue an e-Evidence order: refused at submission as in the pages."""
    from authorities.constants import AuthorityKind

    draft = create(client, token).json()
    upload(client, token, draft["id"])
    authority.kind = AuthorityKind.REGULATOR
    authority.save()
    refused = call(client, "post", f"{LIST}{draft['id']}/submit/", token, {})
    assert refused.status_code == 422
    assert refused.json()["errors"]
    assert LegalRequest.objects.get(public_id=draft["id"]).status == Status.DRAFT


def test_idempotency_keys_are_kept_48_hours(client, token):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from requests_app.api.models import IdempotencyKey
    from requests_app.tasks import purge_idempotency_keys

    key = new_key()
    first = create(client, token, key=key).json()
    with time_machine.travel(timezone.now() + timedelta(hours=47)):
        assert purge_idempotency_keys() == 0
        assert create(client, token, key=key).json()["id"] == first["id"]
    with time_machine.travel(timezone.now() + timedelta(hours=49)):
        assert purge_idempotency_keys() == 1
    assert IdempotencyKey.objects.count() == 0
