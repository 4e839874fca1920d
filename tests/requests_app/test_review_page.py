"""The reviewer's detail page reads as words for people and keeps its actions in reach: the action
bar before the request, each action's form only once opened (and kept, with what was typed, when
refused), no internal code or id on the page, the call-back outcome chosen by the reviewer."""

import re

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from authorities.constants import Instrument
from requests_app.models import CallbackVerification, LegalRequest, Status
from requests_app.review import services as review_services
from tests.conftest import passkey_login, verified_login
from tests.requests_app.helpers import VALID, submit

pytestmark = pytest.mark.django_db


def submitted(client, officer, instrument=Instrument.EPOC, **extra) -> LegalRequest:
    emergency = instrument == Instrument.EMERGENCY_DISCLOSURE
    (passkey_login if emergency else verified_login)(client, officer)
    assert submit(client, instrument, {**VALID[instrument], **extra}).status_code == 302
    return LegalRequest.objects.exclude(status=Status.DRAFT).latest("pk")


@pytest.fixture
def worked_request(client, officer, reviewer):
    """An EPOC in English, submitted with an authenticator app, accepted, then refused as data
    not stored: its timeline holds status changes and a refusal ground."""
    legal_request = submitted(client, officer, language="en")
    review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
    review_services.legal_request_refuse(
        reviewer=reviewer,
        legal_request=LegalRequest.objects.get(pk=legal_request.pk),
        ground="data_not_stored",
        explanation="No such account.",
    )
    return legal_request


def detail_url(legal_request, action: str = "") -> str:
    url = reverse("review:detail", args=[legal_request.public_id])
    return f"{url}?action={action}" if action else url


def page_of(client, user, legal_request, action: str = "") -> str:
    verified_login(client, user)
    response = client.get(detail_url(legal_request, action))
    assert response.status_code == 200
    return response.content.decode()


def form_posting_to(page: str, legal_request, name: str) -> str | None:
    url = reverse("review:action", args=[legal_request.public_id, name])
    match = re.search(rf'<form [^>]*action="{url}"[^>]*>.*?</form>', page, re.S)
    return match.group(0) if match else None


# --- The action bar ---------------------------------------------------------------------------


def test_the_actions_come_before_the_request_and_its_timeline(client, officer, reviewer):
    legal_request = submitted(client, officer)
    page = page_of(client, reviewer, legal_request)
    bar = page.index('id="action-bar"')
    assert bar < page.index('id="fields-heading"') < page.index('class="timeline"')
    # Each action with a form is a link that opens it; a one-click action is its own button.
    assert f'href="{detail_url(legal_request, "refuse")}#action-form"' in page
    assert f'href="{detail_url(legal_request, "clarify")}#action-form"' in page
    assert form_posting_to(page, legal_request, "accept") is not None


def test_an_action_form_is_rendered_only_once_opened(client, officer, reviewer):
    legal_request = submitted(client, officer)
    page = page_of(client, reviewer, legal_request)
    assert form_posting_to(page, legal_request, "refuse") is None
    assert form_posting_to(page, legal_request, "clarify") is None
    assert "<textarea" not in page

    page = page_of(client, reviewer, legal_request, "refuse")
    form = form_posting_to(page, legal_request, "refuse")
    assert 'name="explanation"' in form and 'name="ground"' in form
    assert "data-confirm=" in form and "button-danger" in form
    assert page.index('id="action-form"') < page.index('id="fields-heading"')
    assert form_posting_to(page, legal_request, "clarify") is None
    # An action not offered now, or no action at all, opens nothing.
    for name in ("approve", "nonsense"):
        page = page_of(client, reviewer, legal_request, name)
        assert 'id="action-form"' not in page


def test_a_refused_form_comes_back_with_its_errors_and_what_was_typed(client, officer, reviewer):
    legal_request = submitted(client, officer)
    verified_login(client, reviewer)
    response = client.post(
        reverse("review:action", args=[legal_request.public_id, "refuse"]),
        {"ground": "", "explanation": "The account was closed in 2019 & never reopened."},
    )
    assert response.status_code == 200
    page = response.content.decode()
    form = form_posting_to(page, legal_request, "refuse")
    assert "The account was closed in 2019 &amp; never reopened." in form
    assert 'class="errorlist' in form
    legal_request.refresh_from_db()
    assert legal_request.status == Status.SUBMITTED


# --- Words, not codes --------------------------------------------------------------------------

INTERNAL = [
    "otp_totp.",
    "webauthn",
    "data_not_stored",
    "<dd>en</dd>",
    "→ in_review",
    "→ refused",
    "subscriber, identification",
    ">https://example.eu/list<",
    "— https://",
]


def test_the_page_names_things_instead_of_showing_codes(client, worked_request, reviewer):
    page = page_of(client, reviewer, worked_request)
    assert [code for code in INTERNAL if code in page] == []
    assert "Authenticator app" in page  # the second factor used at submission
    assert "<dd>English</dd>" in page
    assert "The data requested is not stored: No such account." in page
    assert "→ Refused" in page
    assert "Subscriber data" in page
    # The registry's source: a link named by the list, its address only in the href.
    assert re.search(r'<a href="https://example\.eu/list"[^>]*>[^<]*Test list[^<]*</a>', page)


def test_the_page_names_things_in_french_too(client, worked_request, reviewer):
    verified_login(client, reviewer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = client.get(detail_url(worked_request)).content.decode()
    assert 'lang="fr"' in page
    assert [code for code in INTERNAL if code in page] == []
    assert "<dd>Anglais</dd>" in page


def test_an_answer_and_a_call_back_are_named_too(client, officer, reviewer):
    emergency = submitted(client, officer, Instrument.EMERGENCY_DISCLOSURE)
    review_services.callback_record(
        reviewer=reviewer, legal_request=emergency, outcome="not_confirmed", notes="Unknown there"
    )
    page = page_of(client, reviewer, emergency)
    assert "Not confirmed: the authority does not know it" in page
    assert "not_confirmed" not in page

    legal_request = submitted(client, officer)
    review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
    review_services.legal_request_respond(
        reviewer=reviewer,
        legal_request=LegalRequest.objects.get(pk=legal_request.pk),
        files=[SimpleUploadedFile("export.csv", b"account,ip\n", "text/csv")],
        partial=True,
        note="Traffic data not kept.",
        categories=["subscriber"],
    )
    page = page_of(client, reviewer, legal_request)
    assert "Categories delivered: Subscriber data. Traffic data not kept." in page
    assert "export.csv" in page  # the produced data, read once the request is answered
    assert "→ Partially responded" in page and "partially_responded" not in page


# --- The call-back: no outcome chosen for the reviewer ----------------------------------------


def test_the_call_back_outcome_has_no_default_and_must_be_chosen(client, officer, reviewer):
    emergency = submitted(client, officer, Instrument.EMERGENCY_DISCLOSURE)
    page = page_of(client, reviewer, emergency, "callback")
    form = form_posting_to(page, emergency, "callback")
    assert 'name="outcome"' in form
    assert "checked" not in form and "selected" not in form
    # The registry's number is in view while the form is open.
    assert page.index('id="callback-phone"') < page.index('id="fields-heading"')

    response = client.post(
        reverse("review:action", args=[emergency.public_id, "callback"]),
        {"notes": "Spoke to the duty officer"},
    )
    assert response.status_code == 200
    form = form_posting_to(response.content.decode(), emergency, "callback")
    assert "Choose the outcome of the call." in form
    assert "Spoke to the duty officer" in form
    assert not CallbackVerification.objects.filter(request=emergency).exists()

    client.post(
        reverse("review:action", args=[emergency.public_id, "callback"]),
        {"outcome": "confirmed", "notes": "Duty officer"},
    )
    assert CallbackVerification.objects.get(request=emergency).outcome == "confirmed"


def test_the_legal_team_reads_every_row_of_a_request_and_its_people_in_the_selector(
    client, officer, reviewer, worked_request, django_assert_num_queries
):
    # The page's rows come from SQL the ORM wrote once (selectors._rows_sql), given to the
    # request as prefetch_related would: the same rows in the same order, each with its people,
    # and reading them on the page costs no query.
    from requests_app import selectors
    from requests_app.models import Message, RequestEvent

    verified_login(client, officer)
    url = reverse("requests:message", args=[worked_request.public_id])
    assert client.post(url, {"body": "The account was renamed."}).status_code == 302
    LegalRequest.objects.filter(pk=worked_request.pk).update(assignee=reviewer)

    read = selectors.legal_request_get_for_legal_team(reviewer, worked_request.public_id)
    with django_assert_num_queries(0):
        events = [(e.pk, e.kind, e.actor and e.actor.email) for e in read.events.all()]
        messages = [(m.pk, m.body, m.author.email) for m in read.messages.all()]
        documents = [d.original_name for d in read.attachments.all()]
        targets = [(t.kind, t.value) for t in read.targets.all()]
        assignee = read.assignee.email
        back = {e.request is read for e in read.events.all()}

    expected = RequestEvent.objects.filter(request=worked_request).select_related("actor")
    assert events == [(e.pk, e.kind, e.actor and e.actor.email) for e in expected]
    assert len(events) >= 4 and {reviewer.email, officer.email} <= {e[2] for e in events}
    assert messages == [
        (m.pk, m.body, m.author.email) for m in Message.objects.filter(request=worked_request)
    ]
    assert ("The account was renamed.", officer.email) in [m[1:] for m in messages]
    assert documents == [d.original_name for d in worked_request.attachments.all()] != []
    assert targets == [(t.kind, t.value) for t in worked_request.targets.all()] != []
    assert assignee == reviewer.email and back == {True}
