"""The preservation lifecycle (e-Evidence Art. 11, Annexes V and VI), moved through time: one
predicate (requests_app.preservation.preservation_state) that the services, the policies, the
alerts and the pages all read. 60 days; one extension of 30 days while it runs; no end once a
production request is confirmed; an early end by the issuing authority; at the lapse or the end
the legal team is told to delete, and records the deletion."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from authorities.constants import Instrument
from requests_app import alerts, policies
from requests_app import services as officer_services
from requests_app.lifecycle import TransitionError
from requests_app.models import LegalRequest, Notification, RequestEvent, Status
from requests_app.notifications import deliver_all_due
from requests_app.preservation import PreservationState, preservation_state
from requests_app.review import services as review_services
from tests.conftest import verified_login
from tests.requests_app.helpers import VALID, submit

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("UTC"))
LAPSE = START + timedelta(days=60)


def preserved(client, officer, reviewer) -> LegalRequest:
    """An EPOC-PR received at START, its preservation confirmed two hours later."""
    with time_machine.travel(START, tick=False):
        verified_login(client, officer)
        assert submit(client, Instrument.EPOC_PR, VALID[Instrument.EPOC_PR]).status_code == 302
        legal_request = LegalRequest.objects.exclude(status=Status.DRAFT).latest("pk")
    with time_machine.travel(START + timedelta(hours=2), tick=False):
        review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
        review_services.legal_request_confirm_preservation(
            reviewer=reviewer, legal_request=legal_request
        )
        deliver_all_due()
    mail.outbox.clear()
    legal_request.refresh_from_db()
    return legal_request


def run_at(when) -> list[tuple[str, list[str]]]:
    """The preservation e-mails a sweep and a delivery at `when` send: (subject, recipients)."""
    before = len(mail.outbox)
    with time_machine.travel(when, tick=False):
        alerts.deadline_sweep()
        deliver_all_due()
    return [
        (m.subject, m.to)
        for m in mail.outbox[before:]
        if "Preservation" in m.subject or m.subject.startswith("DELETE")
    ]


def subjects(sent) -> list[str]:
    return [subject for subject, _ in sent]


def officer_page(client, officer, legal_request, when) -> str:
    with time_machine.travel(when, tick=False):
        verified_login(client, officer)
        return client.get(
            reverse("requests:detail", args=[legal_request.public_id])
        ).content.decode()


def post_preservation(client, officer, legal_request, when, **data):
    with time_machine.travel(when, tick=False):
        verified_login(client, officer)
        return client.post(reverse("requests:preservation", args=[legal_request.public_id]), data)


def test_lifecycle_extension_lapse_notice_deletion(client, officer, reviewer):
    legal_request = preserved(client, officer, reviewer)
    assert legal_request.preservation_until == LAPSE
    assert preservation_state(legal_request, START).state == PreservationState.RUNNING

    # Day 59: the issuing authority extends it once (Annex VI), from the page.
    day59 = START + timedelta(days=59)
    assert "Extend by 30 days" in officer_page(client, officer, legal_request, day59)
    post_preservation(client, officer, legal_request, day59, action="extend")
    legal_request.refresh_from_db()
    until = LAPSE + timedelta(days=30)
    assert legal_request.preservation_until == until
    assert legal_request.preservation_extended_at == day59
    # Once only: the page no longer offers it, the service refuses it.
    assert "Extend by 30 days" not in officer_page(client, officer, legal_request, day59)
    with time_machine.travel(day59, tick=False), pytest.raises(TransitionError, match="once"):
        officer_services.preservation_extend(officer=officer, legal_request=legal_request)

    # The lapse notice moved with the lapse: none at the old date, one 7 days before the new.
    notice = f"[{legal_request.reference}] Preservation lapses on {until:%Y-%m-%d %H:%M} UTC"
    assert run_at(LAPSE) == []
    assert subjects(run_at(until - timedelta(days=7))) == [notice, notice]

    # The lapse: the legal team is told to delete, once.
    delete = f"DELETE [{legal_request.reference}] The preservation is over: delete the data"
    assert run_at(until - timedelta(seconds=1)) == []
    sent = run_at(until)
    assert subjects(sent) == [delete]
    assert officer.email not in sent[0][1] and reviewer.email in sent[0][1]
    assert run_at(until + timedelta(days=1)) == []
    legal_request.refresh_from_db()
    assert preservation_state(legal_request, until).state == PreservationState.LAPSED
    with time_machine.travel(until, tick=False):
        assert not policies.decide(officer, "end_preservation", legal_request)

    # The reviewer records the deletion: an event, and the state says so.
    with time_machine.travel(until + timedelta(hours=3), tick=False):
        verified_login(client, reviewer)
        page = client.get(reverse("review:detail", args=[legal_request.public_id]))
        assert "Record the deletion" in page.content.decode()
        client.post(
            reverse("review:action", args=[legal_request.public_id, "record_deletion"]),
            {"note": "Preserved copy of @jane.doe purged from the hold store."},
        )
    legal_request.refresh_from_db()
    assert legal_request.data_deleted_at == until + timedelta(hours=3)
    assert legal_request.events.filter(kind=RequestEvent.Kind.DATA_DELETED).count() == 1
    assert preservation_state(legal_request, until + timedelta(hours=4)).state == (
        PreservationState.DELETED
    )
    with time_machine.travel(until + timedelta(hours=4), tick=False):
        assert not policies.decide(reviewer, "record_deletion", legal_request)


def test_no_extension_once_lapsed(client, officer, reviewer):
    legal_request = preserved(client, officer, reviewer)
    after = LAPSE + timedelta(minutes=1)
    page = officer_page(client, officer, legal_request, after)
    assert "Extend by 30 days" not in page
    assert "the data are to be deleted" in page
    with time_machine.travel(after, tick=False), pytest.raises(TransitionError, match="lapsed"):
        officer_services.preservation_extend(officer=officer, legal_request=legal_request)


def test_answered_order_is_not_extended_but_its_lapse_still_asks_for_deletion(
    client, officer, reviewer
):
    """The legal team closed the preserved order: the issuing authority can no longer extend
    it (page and service agree), and its lapse still tells the legal team to delete."""
    legal_request = preserved(client, officer, reviewer)
    with time_machine.travel(START + timedelta(days=3), tick=False):
        review_services.legal_request_close(reviewer=reviewer, legal_request=legal_request)
    day10 = START + timedelta(days=10)
    assert "Extend by 30 days" not in officer_page(client, officer, legal_request, day10)
    with time_machine.travel(day10, tick=False), pytest.raises(TransitionError):
        officer_services.preservation_extend(officer=officer, legal_request=legal_request)
    legal_request.refresh_from_db()
    assert legal_request.preservation_until == LAPSE
    assert preservation_state(legal_request, day10).state == PreservationState.ANSWERED
    assert subjects(run_at(LAPSE)) == [
        f"DELETE [{legal_request.reference}] The preservation is over: delete the data"
    ]


def test_production_request_keeps_the_data_without_end(client, officer, reviewer):
    legal_request = preserved(client, officer, reviewer)
    day10 = START + timedelta(days=10)
    post_preservation(
        client,
        officer,
        legal_request,
        day10,
        action="production",
        production_reference="PARQUET-2026-0042-P",
    )
    legal_request.refresh_from_db()
    assert legal_request.production_reference == "PARQUET-2026-0042-P"
    assert legal_request.preservation_until is None
    state = preservation_state(legal_request, LAPSE + timedelta(days=365))
    assert state.state == PreservationState.UNTIL_PRODUCTION and not state.deletion_due
    assert "PARQUET-2026-0042-P" in officer_page(client, officer, legal_request, day10)
    # No extension of an order without end, no lapse notice, no deletion at day 60.
    with time_machine.travel(day10, tick=False):
        assert not policies.decide(officer, "extend_preservation", legal_request)
    assert run_at(LAPSE - timedelta(days=7)) == [] and run_at(LAPSE) == []


def test_issuing_authority_ends_the_preservation_early(client, officer, reviewer):
    legal_request = preserved(client, officer, reviewer)
    day5 = START + timedelta(days=5)
    assert "End the preservation now" in officer_page(client, officer, legal_request, day5)
    post_preservation(
        client, officer, legal_request, day5, action="end", reason="Suspect identified otherwise."
    )
    legal_request.refresh_from_db()
    assert legal_request.preservation_ended_at == day5
    event = legal_request.events.get(kind=RequestEvent.Kind.PRESERVATION_ENDED)
    assert (event.actor, event.detail) == (officer, "Suspect identified otherwise.")
    delete = f"DELETE [{legal_request.reference}] The preservation is over: delete the data"
    assert subjects(run_at(day5 + timedelta(minutes=1))) == [delete]
    # Nothing more: no lapse notice, no second deletion alert, no extension.
    assert run_at(LAPSE - timedelta(days=7)) == [] and run_at(LAPSE) == []
    with time_machine.travel(day5, tick=False):
        assert not policies.decide(officer, "extend_preservation", legal_request)
    assert (
        Notification.objects.filter(
            request=legal_request, alert_kind=Notification.AlertKind.PRESERVATION_END
        ).count()
        == 1
    )


def test_withdrawn_preservation_order_asks_for_deletion(client, officer, reviewer):
    legal_request = preserved(client, officer, reviewer)
    day7 = START + timedelta(days=7)
    with time_machine.travel(day7, tick=False):
        officer_services.legal_request_withdraw(
            officer=officer, legal_request=legal_request, reason="Case closed."
        )
    legal_request.refresh_from_db()
    assert preservation_state(legal_request, day7).state == PreservationState.ENDED
    assert subjects(run_at(day7 + timedelta(minutes=1))) == [
        f"DELETE [{legal_request.reference}] The preservation is over: delete the data"
    ]


@pytest.mark.parametrize(
    ("fields", "now", "state", "deletion_due"),
    [
        ({}, LAPSE - timedelta(seconds=1), PreservationState.RUNNING, False),
        ({}, LAPSE, PreservationState.LAPSED, True),
        ({"status": Status.CLOSED}, START, PreservationState.ANSWERED, False),
        ({"status": Status.CLOSED}, LAPSE, PreservationState.LAPSED, True),
        ({"status": Status.REFUSED}, LAPSE, PreservationState.NOT_PRESERVED, False),
        (
            {"production_reference": "P-1", "preservation_until": None},
            LAPSE + timedelta(days=400),
            PreservationState.UNTIL_PRODUCTION,
            False,
        ),
        ({"preservation_ended_at": START}, START, PreservationState.ENDED, True),
        (
            {"preservation_ended_at": START, "data_deleted_at": START},
            START,
            PreservationState.DELETED,
            False,
        ),
    ],
)
def test_preservation_state_table(fields, now, state, deletion_due):
    """The predicate alone, on unsaved rows: no database, no clock but `now`."""
    row = LegalRequest(
        instrument=Instrument.EPOC_PR,
        status=Status.PRESERVED,
        received_at=START,
        preservation_until=LAPSE,
    )
    for name, value in fields.items():
        setattr(row, name, value)
    found = preservation_state(row, now)
    assert (found.state, found.deletion_due) == (state, deletion_due)
    assert (
        preservation_state(LegalRequest(instrument=Instrument.EPOC, received_at=START), now) is None
    )
