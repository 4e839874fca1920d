"""Answering fits the instrument (issue 17): a TCO removal order is answered by confirming the
removal (no file), an inquiry by a written answer, and the legal team may write to the officer
without stopping the clock (a clarification stops it). Each action: its state, its clock, its
events (the timeline and the audit), its e-mail, who may post it, and what the page offers."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from authorities.constants import Instrument
from requests_app import instruments, lifecycle, policies
from requests_app.models import Message, ProducedData, RequestEvent, Status
from requests_app.notifications import deliver_all_due
from requests_app.review import services as review_services
from tests.conftest import verified_login
from tests.requests_app.test_review import act, new_request

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
RECEIVED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def in_review(client, officer, reviewer, instrument):
    with time_machine.travel(RECEIVED, tick=False):
        legal_request = new_request(client, officer, instrument)
        review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
        deliver_all_due()
    mail.outbox.clear()
    legal_request.refresh_from_db()
    return legal_request


def officer_page(client, officer, legal_request) -> str:
    verified_login(client, officer)
    response = client.get(reverse("requests:detail", args=[legal_request.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def review_page(client, user, legal_request) -> str:
    verified_login(client, user)
    response = client.get(reverse("review:detail", args=[legal_request.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def action_url(legal_request, name: str) -> str:
    return reverse("review:action", args=[legal_request.public_id, name])


def offered(legal_request, name: str) -> str:
    """What the review page's action bar shows for an action with a form: the link that opens it
    (?action=name); its form, posted to action_url, is rendered only once opened."""
    return f"?action={name}#action-form"


# --- The instrument table says how each instrument is answered ------------------------------


def test_each_instrument_is_answered_in_the_way_that_fits_it():
    answers = {code: rule.answers for code, rule in instruments.RULES.items()}
    assert answers[Instrument.TCO_REMOVAL] == {instruments.Answer.REMOVAL}
    assert answers[Instrument.INQUIRY] == {instruments.Answer.TEXT}
    for code in (Instrument.EPOC, Instrument.DSA_ART10, Instrument.EMERGENCY_DISCLOSURE):
        assert answers[code] == {instruments.Answer.PRODUCED_DATA}
    assert all(answers.values()), "every instrument can be answered somehow"


# --- TCO: the removal confirmed, no file ------------------------------------------------------


def test_tco_removal_is_confirmed_without_a_file_and_the_officer_is_told(client, officer, reviewer):
    legal_request = in_review(client, officer, reviewer, Instrument.TCO_REMOVAL)
    removed = RECEIVED + timedelta(minutes=40)
    with time_machine.travel(RECEIVED + timedelta(minutes=45), tick=False):
        event = review_services.legal_request_confirm_removal(
            reviewer=reviewer,
            legal_request=legal_request,
            removed_at=removed,
            note="Disabled in all Member States.",
        )
        deliver_all_due()
    legal_request.refresh_from_db()
    assert legal_request.status == Status.RESPONDED
    assert legal_request.content_removed_at == removed
    # The on-time figures count the removal (TCO Art. 3(3): within one hour of receipt).
    assert legal_request.answered_at == removed
    assert not ProducedData.objects.exists()
    assert event.kind == RequestEvent.Kind.REMOVAL_CONFIRMED and event.visible_to_authority
    assert event.actor == reviewer and event.to_status == Status.RESPONDED
    assert "2026-11-27 10:40 UTC" in event.detail and "all Member States" in event.detail
    subjects = [m.subject for m in mail.outbox if m.to == [officer.email]]
    assert subjects == [f"[{legal_request.reference}] Responded"]

    page = officer_page(client, officer, legal_request)
    assert 'id="removal-confirmed"' in page
    assert "Content removed or access disabled" in page
    assert "2026-11-27" in page and "Disabled in all Member States." in page


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        (RECEIVED + timedelta(hours=2), "in the future"),
        (None, "Give the time"),
    ],
)
def test_a_removal_needs_a_time_that_has_passed(client, officer, reviewer, when, problem):
    legal_request = in_review(client, officer, reviewer, Instrument.TCO_REMOVAL)
    with (
        time_machine.travel(RECEIVED + timedelta(hours=1), tick=False),
        pytest.raises(ValidationError, match=problem),
    ):
        review_services.legal_request_confirm_removal(
            reviewer=reviewer, legal_request=legal_request, removed_at=when
        )
    legal_request.refresh_from_db()
    assert legal_request.status == Status.IN_REVIEW


def test_content_removed_before_the_order_arrived_is_answered_at_receipt(client, officer, reviewer):
    legal_request = in_review(client, officer, reviewer, Instrument.TCO_REMOVAL)
    before = RECEIVED - timedelta(days=1)
    with time_machine.travel(RECEIVED + timedelta(minutes=5), tick=False):
        review_services.legal_request_confirm_removal(
            reviewer=reviewer, legal_request=legal_request, removed_at=before
        )
    legal_request.refresh_from_db()
    assert legal_request.content_removed_at == before
    assert legal_request.answered_at == RECEIVED


def test_a_tco_order_is_not_answered_with_produced_data_nor_in_text(client, officer, reviewer):
    legal_request = in_review(client, officer, reviewer, Instrument.TCO_REMOVAL)
    decision = policies.decide(reviewer, "respond", legal_request)
    assert not decision and "removal" in decision.reason.lower()
    with pytest.raises(lifecycle.TransitionError):
        review_services.legal_request_respond(
            reviewer=reviewer,
            legal_request=legal_request,
            files=[SimpleUploadedFile("x.csv", b"a\n", "text/csv")],
        )
    with pytest.raises(lifecycle.TransitionError):
        review_services.legal_request_answer(
            reviewer=reviewer, legal_request=legal_request, answer="Done."
        )
    page = review_page(client, reviewer, legal_request)
    assert offered(legal_request, "confirm_removal") in page
    assert offered(legal_request, "respond") not in page
    assert offered(legal_request, "answer") not in page
    assert 'name="files"' not in page


def test_only_a_removal_order_has_its_removal_confirmed(client, officer, reviewer):
    legal_request = in_review(client, officer, reviewer, Instrument.EPOC)
    with pytest.raises(lifecycle.TransitionError, match="removal"):
        review_services.legal_request_confirm_removal(
            reviewer=reviewer, legal_request=legal_request, removed_at=RECEIVED
        )
    page = review_page(client, reviewer, legal_request)
    assert offered(legal_request, "confirm_removal") not in page
    assert offered(legal_request, "respond") in page


def test_a_removal_is_confirmed_once_the_order_is_in_review(client, officer, reviewer):
    with time_machine.travel(RECEIVED, tick=False):
        legal_request = new_request(client, officer, Instrument.TCO_REMOVAL)
    with pytest.raises(lifecycle.TransitionError):
        review_services.legal_request_confirm_removal(
            reviewer=reviewer, legal_request=legal_request, removed_at=RECEIVED
        )


def test_reviewer_confirms_the_removal_through_the_page(client, officer, reviewer):
    legal_request = in_review(client, officer, reviewer, Instrument.TCO_REMOVAL)
    with time_machine.travel(RECEIVED + timedelta(minutes=50), tick=False):
        assert offered(legal_request, "confirm_removal") in review_page(
            client, reviewer, legal_request
        )
        detail = reverse("review:detail", args=[legal_request.public_id])
        page = client.get(detail, {"action": "confirm_removal"}).content.decode()
        assert 'name="removed_at"' in page and 'type="datetime-local"' in page
        assert 'value="2026-11-27T' in page  # opened with now, in the reviewer's zone
        response = act(
            client,
            legal_request,
            "confirm_removal",
            {"removed_at": "2026-11-27T10:30", "note": "Access disabled."},
        )
    assert response.status_code == 302
    legal_request.refresh_from_db()
    assert legal_request.status == Status.RESPONDED
    assert legal_request.content_removed_at == datetime(2026, 11, 27, 10, 30, tzinfo=UTC)


# --- Inquiry: a written answer -----------------------------------------------------------------


def test_an_inquiry_is_answered_in_text_and_the_officer_reads_it(client, officer, reviewer):
    legal_request = in_review(client, officer, reviewer, Instrument.INQUIRY)
    with time_machine.travel(RECEIVED + timedelta(days=1), tick=False):
        message = review_services.legal_request_answer(
            reviewer=reviewer,
            legal_request=legal_request,
            answer="We keep subscriber data for 90 days after deletion.",
        )
        deliver_all_due()
    legal_request.refresh_from_db()
    assert legal_request.status == Status.RESPONDED
    assert legal_request.answered_at == RECEIVED + timedelta(days=1)
    assert message.kind == Message.Kind.ANSWER and message.author == reviewer
    event = legal_request.events.get(kind=RequestEvent.Kind.ANSWERED)
    assert event.visible_to_authority and event.to_status == Status.RESPONDED
    assert event.actor == reviewer
    subjects = [m.subject for m in mail.outbox if m.to == [officer.email]]
    assert subjects == [f"[{legal_request.reference}] Responded"]
    # The e-mail says where, never what (notice_context): the answer stays in the portal.
    assert all("90 days" not in m.body for m in mail.outbox)

    page = officer_page(client, officer, legal_request)
    assert 'id="written-answer"' in page
    assert "We keep subscriber data for 90 days after deletion." in page


def test_a_written_answer_needs_text(client, officer, reviewer):
    legal_request = in_review(client, officer, reviewer, Instrument.INQUIRY)
    with pytest.raises(ValidationError, match="Write the answer"):
        review_services.legal_request_answer(
            reviewer=reviewer, legal_request=legal_request, answer="   "
        )


def test_an_inquiry_discloses_no_data_and_a_production_order_gets_no_text_answer(
    client, officer, reviewer
):
    inquiry = in_review(client, officer, reviewer, Instrument.INQUIRY)
    assert not policies.decide(reviewer, "respond", inquiry)
    assert not policies.decide(reviewer, "confirm_removal", inquiry)
    page = review_page(client, reviewer, inquiry)
    assert offered(inquiry, "answer") in page
    assert offered(inquiry, "respond") not in page

    epoc = in_review(client, officer, reviewer, Instrument.EPOC)
    with pytest.raises(lifecycle.TransitionError):
        review_services.legal_request_answer(reviewer=reviewer, legal_request=epoc, answer="x")
    assert offered(epoc, "answer") not in review_page(client, reviewer, epoc)


def test_reviewer_answers_through_the_page(client, officer, reviewer):
    legal_request = in_review(client, officer, reviewer, Instrument.INQUIRY)
    verified_login(client, reviewer)
    response = act(client, legal_request, "answer", {"answer": "Ninety days."})
    assert response.status_code == 302
    legal_request.refresh_from_db()
    assert legal_request.status == Status.RESPONDED
    assert legal_request.messages.get(kind=Message.Kind.ANSWER).body == "Ninety days."


# --- A message to the officer: the clock runs on ----------------------------------------------


def test_a_message_to_the_officer_does_not_stop_the_clock(client, officer, reviewer):
    legal_request = in_review(client, officer, reviewer, Instrument.EPOC)
    due_at, legal_due_at = legal_request.due_at, legal_request.legal_due_at
    with time_machine.travel(RECEIVED + timedelta(days=2), tick=False):
        message = review_services.message_post_by_platform(
            reviewer=reviewer,
            legal_request=legal_request,
            body="We are working on it; the export takes two days.",
        )
        deliver_all_due()
    legal_request.refresh_from_db()
    assert legal_request.status == Status.IN_REVIEW
    assert (legal_request.due_at, legal_request.legal_due_at) == (due_at, legal_due_at)
    assert legal_request.clock_stopped_at is None
    assert message.kind == Message.Kind.FROM_PLATFORM and message.author == reviewer
    event = legal_request.events.latest("pk")
    assert event.kind == RequestEvent.Kind.MESSAGE and event.visible_to_authority
    assert event.actor == reviewer and not event.to_status
    assert not legal_request.events.filter(kind=RequestEvent.Kind.CLOCK_STOPPED).exists()
    to_officer = [m for m in mail.outbox if m.to == [officer.email]]
    assert [m.subject for m in to_officer] == [
        f"[{legal_request.reference}] A message from the platform"
    ]
    assert "two days" not in to_officer[0].body
    assert reverse("requests:detail", args=[legal_request.public_id]) in to_officer[0].body

    page = officer_page(client, officer, legal_request)
    assert "We are working on it; the export takes two days." in page


def test_a_message_during_a_clarification_leaves_the_clock_stopped(client, officer, reviewer):
    legal_request = in_review(client, officer, reviewer, Instrument.EPOC)
    review_services.legal_request_ask_clarification(
        reviewer=reviewer, legal_request=legal_request, question="Which period?"
    )
    legal_request.refresh_from_db()
    stopped = legal_request.clock_stopped_at
    review_services.message_post_by_platform(
        reviewer=reviewer, legal_request=legal_request, body="Also: which account?"
    )
    legal_request.refresh_from_db()
    assert legal_request.status == Status.CLARIFICATION
    assert legal_request.clock_stopped_at == stopped and legal_request.due_at is None


def test_no_message_on_a_closed_request_nor_an_empty_one(client, officer, reviewer):
    legal_request = in_review(client, officer, reviewer, Instrument.INQUIRY)
    with pytest.raises(ValidationError, match="Write the message"):
        review_services.message_post_by_platform(
            reviewer=reviewer, legal_request=legal_request, body=" "
        )
    review_services.legal_request_answer(
        reviewer=reviewer, legal_request=legal_request, answer="Ninety days."
    )
    # Answered, not closed: the officer may still be written to.
    assert policies.decide(reviewer, "message_officer", legal_request)
    review_services.legal_request_close(reviewer=reviewer, legal_request=legal_request)
    with pytest.raises(lifecycle.TransitionError):
        review_services.message_post_by_platform(
            reviewer=reviewer, legal_request=legal_request, body="Hello"
        )


def test_the_page_tells_which_action_stops_the_clock(client, officer, reviewer):
    legal_request = in_review(client, officer, reviewer, Instrument.EPOC)
    page = review_page(client, reviewer, legal_request)
    assert offered(legal_request, "message_officer") in page
    assert offered(legal_request, "clarify") in page
    assert "Send the message (the clock keeps running)" in page
    detail = reverse("review:detail", args=[legal_request.public_id])
    clarify = client.get(detail, {"action": "clarify"}).content.decode()
    assert "the clock stops until it answers" in clarify
    message = client.get(detail, {"action": "message_officer"}).content.decode()
    assert "the clock keeps running" in message and 'name="body"' in message
    verified_login(client, reviewer)
    response = act(client, legal_request, "message_officer", {"body": "Noted, thank you."})
    assert response.status_code == 302
    follow = client.get(response["Location"]).content.decode()
    assert "Message sent; the clock keeps running." in follow


# --- Who may post each action ------------------------------------------------------------------

POSTS = {
    "confirm_removal": (Instrument.TCO_REMOVAL, {"removed_at": "2026-11-27T10:30"}),
    "answer": (Instrument.INQUIRY, {"answer": "Ninety days."}),
    "message_officer": (Instrument.EPOC, {"body": "Hello."}),
}


@pytest.mark.parametrize("name", sorted(POSTS))
@pytest.mark.parametrize(
    ("role", "expected"),
    [("officer", 404), ("outsider", 404), ("auditor", 403), ("reviewer", 302), ("lead", 302)],
)
def test_who_may_post_each_answer(client, request, officer, reviewer, name, role, expected):
    instrument, data = POSTS[name]
    legal_request = in_review(client, officer, reviewer, instrument)
    user = request.getfixturevalue(role)
    verified_login(client, user)
    with time_machine.travel(RECEIVED + timedelta(minutes=50), tick=False):
        verified_login(client, user)
        response = client.post(action_url(legal_request, name), data)
    assert response.status_code == expected
    legal_request.refresh_from_db()
    changed = legal_request.messages.exists() or legal_request.status != Status.IN_REVIEW
    assert changed == (expected == 302)


def test_answers_are_offered_in_french(client, officer, reviewer):
    from django.conf import settings
    from django.utils import translation

    tco = in_review(client, officer, reviewer, Instrument.TCO_REMOVAL)
    verified_login(client, reviewer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    try:
        page = client.get(reverse("review:detail", args=[tco.public_id])).content.decode()
    finally:
        translation.activate(settings.LANGUAGE_CODE)
    assert '<html lang="fr">' in page
    assert offered(tco, "confirm_removal") in page
