"""e-Evidence Art. 4(5), moved through time: an emergency production order for subscriber or
identification data issued without prior validation is validated within 48 hours, or it stands
withdrawn: the reminder at 36 hours, the refusal, the lapse, the produced-data download
withdrawn (410 with the reason) and the deletion recorded."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from authorities.constants import AuthorityKind, Instrument
from requests_app import alerts, policies
from requests_app import services as officer_services
from requests_app.ex_post_validation import ValidationState, validation_state
from requests_app.lifecycle import TransitionError
from requests_app.models import (
    AccessLog,
    Attachment,
    LegalRequest,
    Notification,
    RequestEvent,
    Status,
)
from requests_app.notifications import deliver_all_due
from requests_app.review import services as review_services
from tests.conftest import current_code, passkey_login, verified_login
from tests.requests_app.helpers import VALID, pdf_upload, submit

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("UTC"))
DUE = START + timedelta(hours=48)


@pytest.fixture
def police(authority):
    """A police authority: it may not order subscriber data itself (Art. 4(1)(b)), so an
    emergency order it issues without a validating authority needs validation afterwards."""
    authority.kind = AuthorityKind.POLICE
    authority.save()
    return authority


def emergency_epoc(client, officer, **extra) -> LegalRequest:
    with time_machine.travel(START, tick=False):
        passkey_login(client, officer)
        data = {
            **VALID[Instrument.EPOC],
            "is_emergency": "on",
            "emergency_justification": "A child is missing; the account is the only lead.",
            **extra,
        }
        assert submit(client, Instrument.EPOC, data).status_code == 302
        deliver_all_due()
    mail.outbox.clear()
    return LegalRequest.objects.exclude(status=Status.DRAFT).latest("pk")


def run_at(when) -> list[tuple[str, list[str]]]:
    """What a sweep and a delivery at `when` e-mail about the validation: (subject, recipients)
    in order."""
    before = len(mail.outbox)
    with time_machine.travel(when, tick=False):
        alerts.deadline_sweep()
        deliver_all_due()
    # Only this clock's alerts: an emergency EPOC's 8-hour deadline has alerts of its own.
    return [
        (m.subject, m.to)
        for m in mail.outbox[before:]
        if m.subject.startswith(("VALIDATION", "DELETE"))
    ]


def subjects(sent) -> list[str]:
    return [subject for subject, _ in sent]


def act(client, legal_request, name, data=None):
    return client.post(reverse("review:action", args=[legal_request.public_id, name]), data or {})


def respond_with_data(client, legal_request, reviewer, lead, when):
    """The legal team answers the emergency order: call-back, a lead's approval, the data."""
    with time_machine.travel(when, tick=False):
        verified_login(client, reviewer)
        act(client, legal_request, "accept")
        act(client, legal_request, "callback", {"outcome": "confirmed", "notes": "Duty officer"})
        passkey_login(client, lead)
        act(
            client, legal_request, "approve", {"otp_token": current_code(lead.totpdevice_set.get())}
        )
        verified_login(client, reviewer)
        produced = SimpleUploadedFile("export.csv", b"account,ip\njane.doe,192.0.2.1\n")
        act(client, legal_request, "respond", {"files": [produced]})
        deliver_all_due()
    legal_request.refresh_from_db()
    assert legal_request.status == Status.RESPONDED
    mail.outbox.clear()
    return legal_request.produced.get()


def record_validation(client, officer, legal_request, outcome, when, decision=None):
    with time_machine.travel(when, tick=False):
        verified_login(client, officer)
        return client.post(
            reverse("requests:validation", args=[legal_request.public_id]),
            {
                "outcome": outcome,
                "validating_authority": "Juge des libertés et de la détention, TJ Paris",
                "validated_on": f"{when:%Y-%m-%d}",
                "decision": decision or pdf_upload("decision.pdf"),
            },
        )


def download(client, officer, produced, when):
    with time_machine.travel(when, tick=False):
        verified_login(client, officer)
        return client.get(
            reverse("requests:produced", args=[produced.request.public_id, produced.public_id])
        )


def test_emergency_order_without_prior_validation_runs_a_48_hour_clock(client, officer, police):
    legal_request = emergency_epoc(client, officer)
    assert legal_request.validation_due_at == DUE
    assert validation_state(legal_request, START).state == ValidationState.PENDING
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        verified_login(client, officer)
        page = client.get(reverse("requests:detail", args=[legal_request.public_id]))
    assert "Record the validation" in page.content.decode()
    assert "to be validated by" in page.content.decode()


def test_no_clock_when_validated_beforehand_or_when_the_issuer_may_order_it_itself(
    client, officer, authority
):
    # A prosecutor orders subscriber data itself (Art. 4(1)): nothing to validate.
    assert emergency_epoc(client, officer).validation_due_at is None
    # A police order that names its validating authority was validated beforehand.
    authority.kind = AuthorityKind.POLICE
    authority.save()
    validated = emergency_epoc(client, officer, validating_authority="Procureur, TJ Paris")
    assert validated.validation_due_at is None
    assert validation_state(validated, START) is None


def test_reminder_at_36_hours_reaches_the_officer_and_the_legal_team_once(
    client, officer, police, reviewer
):
    legal_request = emergency_epoc(client, officer)
    reminder = f"VALIDATION [{legal_request.reference}] Ex post validation due by"
    early = run_at(START + timedelta(hours=36) - timedelta(seconds=1))
    assert not [s for s in subjects(early) if s.startswith(reminder)]
    sent = [(s, to) for s, to in run_at(START + timedelta(hours=36)) if s.startswith(reminder)]
    # One message per audience, each with its own page: the legal team's and the officer's.
    assert sorted(to for _, to in sent) == sorted([[reviewer.email], [officer.email]])
    assert run_at(START + timedelta(hours=37)) == []
    assert (
        Notification.objects.filter(
            request=legal_request, alert_kind=Notification.AlertKind.VALIDATION_DUE
        ).count()
        == 1
    )


def test_refused_validation_withdraws_the_download_and_the_deletion_is_recorded(
    client, officer, police, reviewer, lead
):
    legal_request = emergency_epoc(client, officer)
    produced = respond_with_data(client, legal_request, reviewer, lead, START + timedelta(hours=2))
    assert download(client, officer, produced, START + timedelta(hours=3)).status_code == 200

    response = record_validation(
        client, officer, legal_request, "refused", START + timedelta(hours=20)
    )
    assert response.status_code == 302
    legal_request.refresh_from_db()
    assert legal_request.validation_outcome == "refused"
    decision = legal_request.attachments.get(purpose=Attachment.Purpose.VALIDATION)
    assert decision.content_type == "application/pdf"
    assert legal_request.events.filter(kind=RequestEvent.Kind.VALIDATION_REFUSED).exists()

    # The legal team is alerted once, at the next sweep.
    sent = run_at(START + timedelta(hours=20, minutes=1))
    refused = f"DELETE [{legal_request.reference}] Validation refused: the order is withdrawn"
    assert refused in subjects(sent)
    # To the whole on-duty legal team (the reviewer and the lead here).
    assert [sorted(to) for s, to in sent if s == refused] == [sorted([reviewer.email, lead.email])]
    assert refused not in subjects(run_at(START + timedelta(hours=48)))

    # The download is withdrawn, with the reason, and the attempt is in the access log.
    gone = download(client, officer, produced, START + timedelta(hours=21))
    assert gone.status_code == 410
    assert "validation of this emergency order was refused" in gone.content.decode()
    assert AccessLog.objects.filter(
        action=AccessLog.Action.DOWNLOAD_REFUSED, request=legal_request
    ).exists()

    # The reviewer records the deletion; the portal's copy goes with it.
    with time_machine.travel(START + timedelta(hours=22), tick=False):
        verified_login(client, reviewer)
        page = client.get(reverse("review:detail", args=[legal_request.public_id]))
        assert "Record the deletion" in page.content.decode()
        act(client, legal_request, "record_deletion", {"note": "Export and logs purged."})
    legal_request.refresh_from_db()
    produced.refresh_from_db()
    assert legal_request.data_deleted_at == START + timedelta(hours=22)
    assert not produced.file
    event = legal_request.events.get(kind=RequestEvent.Kind.DATA_DELETED)
    assert (event.actor, event.detail) == (reviewer, "Export and logs purged.")
    with (
        time_machine.travel(START + timedelta(hours=23), tick=False),
        pytest.raises(TransitionError, match="already recorded"),
    ):
        review_services.legal_request_record_deletion(
            reviewer=reviewer, legal_request=legal_request, note="again"
        )


def test_lapsed_validation_at_48_hours_withdraws_the_download(
    client, officer, police, reviewer, lead
):
    legal_request = emergency_epoc(client, officer)
    produced = respond_with_data(client, legal_request, reviewer, lead, START + timedelta(hours=2))
    lapsed = (
        f"DELETE [{legal_request.reference}] Not validated within 48 hours: the order is withdrawn"
    )

    assert lapsed not in subjects(run_at(DUE - timedelta(seconds=1)))
    assert download(client, officer, produced, DUE - timedelta(seconds=1)).status_code == 200
    assert subjects(run_at(DUE)).count(lapsed) == 1
    assert lapsed not in subjects(run_at(DUE + timedelta(hours=1)))

    gone = download(client, officer, produced, DUE)
    assert gone.status_code == 410
    assert "was not validated within 48 hours" in gone.content.decode()
    # Too late to record a validation: the page does not offer it and the service refuses.
    with time_machine.travel(DUE + timedelta(minutes=5), tick=False):
        verified_login(client, officer)
        page = client.get(reverse("requests:detail", args=[legal_request.public_id]))
        assert "Record the validation" not in page.content.decode()
        assert "withdrawn: the order was not validated" in page.content.decode()
        with pytest.raises(TransitionError, match="48 hours"):
            officer_services.validation_record(
                officer=officer,
                legal_request=legal_request,
                outcome="granted",
                validating_authority="JLD",
                validated_on=DUE.date(),
                uploaded=None,
                checked=None,
            )
        assert policies.decide(reviewer, "record_deletion", legal_request)


def test_validation_granted_in_time_stops_the_clock(client, officer, police, reviewer, lead):
    legal_request = emergency_epoc(client, officer)
    produced = respond_with_data(client, legal_request, reviewer, lead, START + timedelta(hours=2))
    assert (
        record_validation(
            client, officer, legal_request, "granted", START + timedelta(hours=10)
        ).status_code
        == 302
    )
    legal_request.refresh_from_db()
    assert validation_state(legal_request, DUE).state == ValidationState.GRANTED
    sent = subjects(run_at(START + timedelta(hours=36))) + subjects(run_at(DUE))
    assert [s for s in sent if "VALIDATION" in s or "DELETE" in s] == []
    assert download(client, officer, produced, DUE + timedelta(hours=1)).status_code == 200
    with time_machine.travel(DUE + timedelta(hours=1), tick=False):
        assert not policies.decide(reviewer, "record_deletion", legal_request)


def test_validation_decision_is_checked_by_content(client, officer, police):
    legal_request = emergency_epoc(client, officer)
    fake = SimpleUploadedFile("decision.pdf", b"MZ\x90\x00 not a pdf at all", "application/pdf")
    response = record_validation(
        client, officer, legal_request, "granted", START + timedelta(hours=1), decision=fake
    )
    assert response.status_code == 302
    legal_request.refresh_from_db()
    assert legal_request.validation_outcome == ""
    assert not legal_request.attachments.filter(purpose=Attachment.Purpose.VALIDATION).exists()


def test_no_data_go_out_once_the_validation_lapsed(client, officer, police, reviewer):
    legal_request = emergency_epoc(client, officer)
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
        legal_request.refresh_from_db()
        before = policies.decide(reviewer, "respond", legal_request)
    # Before: only the emergency's own checks (call-back, second pair of eyes) stand in the way.
    assert not before and "call" in before.reason and "4(5)" not in before.reason
    with time_machine.travel(DUE, tick=False):
        after = policies.decide(reviewer, "respond", legal_request)
    assert not after and "Art. 4(5)" in after.reason
