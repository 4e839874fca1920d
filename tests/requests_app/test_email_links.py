"""Every e-mail that links to a request links to the page its recipient can open: the officer's
request page for the authority, the review page for the legal team (each is a 404 for the other
audience). The link is followed, as each recipient, from both the text and the HTML part.
And the text part of an e-mail is plain text: never HTML-escaped."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from authorities.constants import Instrument
from portal.emails import build_email
from requests_app import alerts, services
from requests_app.models import LegalRequest, Status
from requests_app.notifications import deliver_all_due
from requests_app.receipts import receipts_issue_all_due
from requests_app.review import services as review_services
from tests.conftest import CommittingClient, passkey_login, verified_login
from tests.requests_app.helpers import VALID, submit

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("UTC"))
HOSTILE = "O'Brien <script>"


def links(message) -> list[str]:
    """The portal links of both parts: the text body and the HTML alternative's hrefs."""
    base = re.escape(settings.PORTAL_BASE_URL)
    text = re.findall(rf"{base}/[^\s<>\"']*", message.body)
    html = next(body for body, mime in message.alternatives if mime == "text/html")
    hrefs = [
        h for h in re.findall(r'href="([^"]+)"', html) if h.startswith(settings.PORTAL_BASE_URL)
    ]
    assert text, f"no link in the text part of {message.subject!r}"
    assert hrefs, f"no link in the HTML part of {message.subject!r}"
    return text + hrefs


def assert_links_open_for_every_recipient(messages, cast) -> set[str]:
    """Follow every link of every message as each of its recipients; return the roles seen."""
    seen = set()
    by_email = {user.email: (role, user) for role, user in cast.items()}
    for message in messages:
        for email in message.to:
            role, user = by_email[email]
            seen.add(role)
            visitor = verified_login(CommittingClient(), user)
            for link in links(message):
                path = link.removeprefix(settings.PORTAL_BASE_URL)
                status = visitor.get(path).status_code
                assert status == 200, f"{role} gets {status} for {path} in {message.subject!r}"
    return seen


def submitted(client, officer, instrument, when=START) -> LegalRequest:
    with time_machine.travel(when, tick=False):
        emergency = instrument == Instrument.EMERGENCY_DISCLOSURE
        (passkey_login if emergency else verified_login)(client, officer)
        assert submit(client, instrument, VALID[instrument]).status_code == 302
        receipts_issue_all_due()  # the worker seals the receipt, then queues the acknowledgment
        deliver_all_due()
    return LegalRequest.objects.exclude(status=Status.DRAFT).latest("pk")


def sent_at(when) -> list:
    before = len(mail.outbox)
    with time_machine.travel(when, tick=False):
        alerts.deadline_sweep()
        deliver_all_due()
    return mail.outbox[before:]


@pytest.fixture
def cast(officer, reviewer, lead):
    return {"officer": officer, "reviewer": reviewer, "lead": lead}


def test_authority_notices_and_clarification_answer_link_to_pages_their_readers_open(
    client, cast, officer, reviewer
):
    legal_request = submitted(client, officer, Instrument.EPOC)
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        review_services.legal_request_accept(
            reviewer=reviewer, legal_request=legal_request
        )  # status changed
        review_services.legal_request_ask_clarification(
            reviewer=reviewer, legal_request=legal_request, question="?"
        )
        deliver_all_due()
    with time_machine.travel(START + timedelta(hours=2), tick=False):
        verified_login(client, officer)
        client.post(reverse("requests:message", args=[legal_request.public_id]), {"body": "Answer"})
        deliver_all_due()
    with time_machine.travel(START + timedelta(hours=3), tick=False):
        review_services.legal_request_respond(
            reviewer=reviewer,
            legal_request=legal_request,
            files=[SimpleUploadedFile("export.csv", b"a,b\n")],
        )
        deliver_all_due()
    subjects = [m.subject for m in mail.outbox]
    for expected in ("Received", "In review", "Clarification requested", "answered", "Response"):
        assert any(expected in s for s in subjects), (expected, subjects)
    answered = [m for m in mail.outbox if "answered" in m.subject]
    assert {reviewer.email} <= set(answered[0].to)
    roles_seen = assert_links_open_for_every_recipient(mail.outbox, cast)
    assert roles_seen == {"officer", "reviewer", "lead"}


def test_withdrawal_notice_links_to_the_officers_page(client, cast, officer):
    legal_request = submitted(client, officer, Instrument.EPOC)
    mail.outbox.clear()
    services.legal_request_withdraw(
        officer=officer, legal_request=legal_request, reason="Case closed"
    )
    deliver_all_due()
    assert [m.subject for m in mail.outbox] == [f"[{legal_request.reference}] Withdrawn"]
    assert assert_links_open_for_every_recipient(mail.outbox, cast) == {"officer"}


@pytest.mark.parametrize("instrument", [Instrument.TCO_REMOVAL, Instrument.EMERGENCY_DISCLOSURE])
def test_urgent_alert_links_to_the_review_page_for_reviewer_and_lead(
    client, cast, officer, instrument
):
    submitted(client, officer, instrument)
    urgent = [m for m in mail.outbox if m.subject.startswith("URGENT")]
    assert len(urgent) == 1
    assert assert_links_open_for_every_recipient(urgent, cast) == {"reviewer", "lead"}


def test_deadline_alerts_link_to_the_review_page_for_reviewer_and_lead(client, cast, officer):
    legal_request = submitted(client, officer, Instrument.EPOC)
    mail.outbox.clear()
    allowed = timedelta(days=10)
    sent = [
        *sent_at(START + allowed / 2),
        *sent_at(START + allowed * 8 / 10),
        *sent_at(legal_request.due_at),
        *sent_at(legal_request.due_at + timedelta(hours=1)),
    ]
    subjects = [m.subject for m in sent]
    assert [s.split(" ")[0] for s in subjects] == [f"[{legal_request.reference}]"] * 2 + [
        "DEADLINE",
        "OVERDUE",
    ]
    assert "50%" in subjects[0] and "80%" in subjects[1]
    assert assert_links_open_for_every_recipient(sent, cast) == {"reviewer", "lead"}


def test_alert_to_the_assignee_links_to_the_review_page(client, cast, officer, reviewer):
    legal_request = submitted(client, officer, Instrument.TCO_REMOVAL)
    review_services.legal_request_assign(
        actor=reviewer, legal_request=legal_request, assignee=reviewer
    )
    mail.outbox.clear()
    sent = sent_at(START + timedelta(minutes=30))
    assert [m.to for m in sent] == [[reviewer.email]]
    assert assert_links_open_for_every_recipient(sent, cast) == {"reviewer"}


def test_preservation_notice_gives_officer_and_legal_team_each_their_page(
    client, cast, officer, reviewer
):
    legal_request = submitted(client, officer, Instrument.EPOC_PR)
    with time_machine.travel(START + timedelta(hours=2), tick=False):
        review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
        review_services.legal_request_confirm_preservation(
            reviewer=reviewer, legal_request=legal_request
        )
        deliver_all_due()
    mail.outbox.clear()
    sent = sent_at(START + timedelta(days=60 - 7))
    assert sent and all("Preservation lapses" in m.subject for m in sent)
    assert assert_links_open_for_every_recipient(sent, cast) == {"officer", "reviewer", "lead"}
    # One notice, but the officer's copy is not the legal team's.
    officers_copy = next(m for m in sent if officer.email in m.to)
    assert reviewer.email not in officers_copy.to
    assert len({m.extra_headers["Message-ID"] for m in sent}) == len(sent)


def test_daily_digest_links_to_the_queue_the_lead_opens(client, cast, officer):
    submitted(client, officer, Instrument.TCO_REMOVAL)
    mail.outbox.clear()
    with time_machine.travel(START + timedelta(hours=21), tick=False):
        alerts.daily_digest()
        deliver_all_due()
    assert [m.to for m in mail.outbox] == [[cast["lead"].email]]
    assert assert_links_open_for_every_recipient(mail.outbox, cast) == {"lead"}


# --- Plain text is not HTML ---------------------------------------------------------------


def test_text_part_is_plain_and_html_part_is_escaped(officer):
    officer.full_name = HOSTILE
    message = build_email(
        to=[officer.email],
        template="officer_approved",
        context={"user": officer, "login_url": "https://portal.example/login/"},
    )
    html = message.alternatives[0][0]
    assert f"Hello {HOSTILE}," in message.body
    assert "&#x27;" not in message.body and "&lt;" not in message.body
    assert "O&#x27;Brien &lt;script&gt;" in html
    assert HOSTILE not in html


def test_subject_is_plain_text():
    message = build_email(
        to=["x@example.org"],
        template="request_status_changed",
        context={"reference": "LR-1", "status": HOSTILE, "instrument": "EPOC", "link": "/"},
    )
    assert message.subject == f"[LR-1] {HOSTILE}"
    assert "O&#x27;Brien &lt;script&gt;" in message.alternatives[0][0]


def test_acknowledgment_shows_an_authority_name_as_written(client, officer, authority):
    authority.name_en = f"Garda {HOSTILE} Bureau"
    authority.save()
    officer.full_name = HOSTILE
    officer.save()
    data = {**VALID[Instrument.EPOC], "statement_of_reasons": f"Threats by {HOSTILE}."}
    verified_login(client, officer)
    assert submit(client, Instrument.EPOC, data).status_code == 302
    receipts_issue_all_due()  # the acknowledgment follows the receipt
    deliver_all_due()
    (ack,) = mail.outbox
    html = ack.alternatives[0][0]
    assert f"from Garda {HOSTILE} Bureau." in ack.body
    assert "Garda O&#x27;Brien &lt;script&gt; Bureau" in html
    assert "<script>" not in html
    assert "Threats by" not in ack.body + html  # never the content of a request
