"""The number of queries a page makes does not grow with what it shows: the review queue with 3
or 30 requests, the review detail with 1 or 10 messages and documents, the officer's list with 3
or 30 requests. A page that loads related rows one by one (N+1) fails here long before it is slow
in production (docs/performance.md has the figures at a million requests).

Each test measures the small case under a ceiling, then requires the large case to make exactly
as many queries. Every measured GET follows a first GET of the same page, so both cases start
from the same state (flash messages shown, session clock written, status counts cached)."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from authorities.constants import Instrument
from requests_app.models import LegalRequest, Status
from requests_app.review import services as review_services
from tests.conftest import verified_login
from tests.requests_app.helpers import pdf_upload, submit

pytestmark = pytest.mark.django_db

# Ceilings for the small case: session, user, device, roles, the page's own reads (and, for the
# detail page, the access-log write). Raise one only with a reason.
QUEUE_MAX_QUERIES = 12
# The detail page makes 12 for an ordinary request (call-backs, approvals and produced data are
# read only where they can exist; the access-log append is one message, the risk volumes one
# query); the ceiling leaves room for a new action's rule, not for more.
DETAIL_MAX_QUERIES = 14
LIST_MAX_QUERIES = 12
REFERENCE = re.compile(r"LR-\d{4}-\d{6}")


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    # These tests submit and post more than the hourly limits allow; they are about queries.
    settings.PORTAL_RATE_SUBMISSION = "10000/h"
    settings.PORTAL_RATE_UPLOAD = "10000/h"


def submit_inquiries(client, officer, count: int) -> None:
    verified_login(client, officer)
    for _ in range(count):
        assert submit(client, Instrument.INQUIRY, documents=[]).status_code == 302


def queries_of_get(client, url: str, expectation) -> tuple[int, str]:
    """Open the page once, then count the queries of a second GET under `expectation`."""
    assert client.get(url).status_code == 200
    with expectation as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries), response.content.decode()


def test_queue_queries_do_not_grow_with_the_requests_listed(
    client, officer, outsider, reviewer, django_assert_max_num_queries, django_assert_num_queries
):
    url = reverse("review:queue")
    submit_inquiries(client, officer, 2)
    submit_inquiries(client, outsider, 1)
    verified_login(client, reviewer)
    small, page = queries_of_get(client, url, django_assert_max_num_queries(QUEUE_MAX_QUERIES))
    assert len(set(REFERENCE.findall(page))) == 3

    submit_inquiries(client, officer, 18)
    submit_inquiries(client, outsider, 9)
    verified_login(client, reviewer)
    _, page = queries_of_get(client, url, django_assert_num_queries(small))
    assert LegalRequest.objects.filter(status=Status.SUBMITTED).count() == 30
    assert len(set(REFERENCE.findall(page))) == 30


def test_review_detail_queries_do_not_grow_with_messages_and_documents(
    client, officer, reviewer, django_assert_max_num_queries, django_assert_num_queries
):
    submit_inquiries(client, officer, 2)
    few, many = LegalRequest.objects.order_by("pk")
    for legal_request, count in ((few, 1), (many, 10)):
        for n in range(count):
            response = client.post(
                reverse("requests:message", args=[legal_request.public_id]),
                {"body": f"Additional information {n}", "files": [pdf_upload(f"annex-{n}.pdf")]},
            )
            assert response.status_code == 302
    assert few.messages.count() == few.attachments.count() == 1
    assert many.messages.count() == many.attachments.count() == 10

    verified_login(client, reviewer)
    small, page = queries_of_get(
        client,
        reverse("review:detail", args=[few.public_id]),
        django_assert_max_num_queries(DETAIL_MAX_QUERIES),
    )
    assert "annex-0.pdf" in page
    _, page = queries_of_get(
        client,
        reverse("review:detail", args=[many.public_id]),
        django_assert_num_queries(small),
    )
    assert all(f"annex-{n}.pdf" in page for n in range(10))
    assert all(f"Additional information {n}" in page for n in range(10))


def test_officer_list_queries_do_not_grow_with_the_requests_listed(
    client, officer, django_assert_max_num_queries, django_assert_num_queries
):
    url = reverse("requests:list")
    submit_inquiries(client, officer, 3)
    small, page = queries_of_get(client, url, django_assert_max_num_queries(LIST_MAX_QUERIES))
    assert len(set(REFERENCE.findall(page))) == 3

    submit_inquiries(client, officer, 27)
    _, page = queries_of_get(client, url, django_assert_num_queries(small))
    assert len(set(REFERENCE.findall(page))) == 25  # a full first page of 30


HOME_MAX_QUERIES = 16


def test_officer_home_queries_do_not_grow_with_what_waits(
    client, officer, reviewer, django_assert_max_num_queries, django_assert_num_queries
):
    """The officer's home (its agenda: clarifications, deadlines, produced data) with 1 or 6 of
    each."""

    def waiting(count: int) -> None:
        submit_inquiries(client, officer, count * 2)
        for _ in range(count):  # answered with produced data, which an inquiry never is
            assert submit(client, Instrument.EPOC).status_code == 302
        fresh = LegalRequest.objects.filter(status=Status.SUBMITTED).order_by("pk")
        asked = list(fresh.filter(instrument=Instrument.INQUIRY)[:count])
        answered = list(fresh.filter(instrument=Instrument.EPOC))
        for legal_request in asked + answered:
            review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
        for legal_request in asked:
            review_services.legal_request_ask_clarification(
                reviewer=reviewer, legal_request=legal_request, question="Which one?"
            )
        for legal_request in answered:
            review_services.legal_request_respond(
                reviewer=reviewer,
                legal_request=legal_request,
                partial=False,
                note="Here.",
                files=[SimpleUploadedFile("export.csv", b"a,b\n")],
            )

    url = reverse("home")
    waiting(1)
    small, page = queries_of_get(client, url, django_assert_max_num_queries(HOME_MAX_QUERIES))
    assert len(set(REFERENCE.findall(page))) == 3
    waiting(5)
    _, page = queries_of_get(client, url, django_assert_num_queries(small))
    assert len(set(REFERENCE.findall(page))) == 18


# A submission without documents, the form saved then submitted: session, user, device, the
# registry's domain check; the draft (request, its event and the webhook question); the
# submission (the request locked with its authority and officer, its targets and order, the
# reference counted up in one statement, the status, its event and the webhook question, the
# risk volumes and documents, the snapshot, the deadlines, the owed receipt); the session.
# It was 37 before the reference took one statement (docs/performance.md): 29 now.
SUBMISSION_MAX_QUERIES = 29


def test_a_submission_makes_a_bounded_number_of_queries(
    client, officer, django_assert_max_num_queries
):
    submit_inquiries(client, officer, 1)  # the session, its clock and flash messages settled

    with django_assert_max_num_queries(SUBMISSION_MAX_QUERIES) as captured:
        assert submit(client, Instrument.INQUIRY, documents=[]).status_code == 302

    statements = [query["sql"] for query in captured.captured_queries]
    assert sum("referencecounter" in sql for sql in statements) == 1
    assert LegalRequest.objects.filter(status=Status.SUBMITTED).count() == 2
