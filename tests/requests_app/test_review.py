"""The legal team's workspace: queue, detail with the verification panel, every action with its
happy path and its refusals, the emergency rules, the lead dashboard and the audit log."""

import csv
import io
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from authorities.constants import Instrument
from requests_app.models import (
    AccessLog,
    CallbackVerification,
    LegalRequest,
    ProducedData,
    RequestEvent,
    Status,
)
from requests_app.notifications import deliver_all_due
from requests_app.review import services as review_services
from tests.conftest import current_code, passkey_login, verified_login
from tests.requests_app.helpers import VALID, submit

pytestmark = pytest.mark.django_db


def new_request(client, officer, instrument=Instrument.EPOC, **extra) -> LegalRequest:
    data = {**VALID[instrument], **extra}
    emergency = instrument == Instrument.EMERGENCY_DISCLOSURE or data.get("is_emergency")
    # An emergency needs a session verified with a passkey (PORTAL_PHISHING_RESISTANT_FOR).
    (passkey_login if emergency else verified_login)(client, officer)
    assert submit(client, instrument, data).status_code == 302
    return LegalRequest.objects.exclude(status=Status.DRAFT).latest("pk")


def act(client, legal_request, name, data=None):
    return client.post(reverse("review:action", args=[legal_request.public_id, name]), data or {})


def approve(client, legal_request, lead):
    """A lead's approval, with the fresh second-factor code the form asks for (step-up)."""
    return act(
        client, legal_request, "approve", {"otp_token": current_code(lead.totpdevice_set.get())}
    )


def produced_file(name="export.csv"):
    return SimpleUploadedFile(name, b"account,ip\njane.doe,192.0.2.1\n", "text/csv")


# --- Queue ------------------------------------------------------------------------------------


def test_queue_orders_by_time_left_overdue_first(client, officer, reviewer):
    with time_machine.travel("2026-11-20 10:00Z", tick=False):
        old_epoc = new_request(client, officer, Instrument.EPOC)  # due 11-30 10:00
    with time_machine.travel("2026-11-27 09:00Z", tick=False):
        tco = new_request(client, officer, Instrument.TCO_REMOVAL)  # due 10:00
        inquiry = new_request(client, officer, Instrument.INQUIRY)  # due 12-11
    with time_machine.travel("2026-11-27 10:30Z", tick=False):  # the TCO order is overdue
        verified_login(client, reviewer)
        page = client.get(reverse("review:queue")).content.decode()
    positions = [page.index(r.reference) for r in (tco, old_epoc, inquiry)]
    assert positions == sorted(positions)
    assert "overdue by 30 min" in page


def test_queue_filters_and_search(client, officer, outsider, reviewer):
    mine = new_request(client, officer, Instrument.EPOC)
    theirs = new_request(client, outsider, Instrument.INQUIRY)
    verified_login(client, reviewer)
    url = reverse("review:queue")

    def refs(**params):
        page = client.get(url, params).content.decode()
        return {r.reference for r in (mine, theirs) if r.reference in page}

    assert refs() == {mine.reference, theirs.reference}
    assert refs(country="DE") == {theirs.reference}
    assert refs(instrument="epoc") == {mine.reference}
    assert refs(authority=officer.authority_id) == {mine.reference}
    assert refs(q=mine.reference) == {mine.reference}
    assert refs(q=mine.case_reference) == {mine.reference}
    assert refs(q="+33612345678") == {mine.reference}
    assert refs(q="@jane.doe") == {mine.reference}
    assert refs(assignee="unassigned") == {mine.reference, theirs.reference}
    act(client, mine, "assign", {"assignee": reviewer.pk})
    assert refs(assignee="mine") == {mine.reference}
    assert refs(assignee="unassigned") == {theirs.reference}
    assert refs(status="in_review") == set()
    page = client.get(url).content.decode()
    assert "Received: <strong>2</strong>" in page


def test_queue_keyset_pagination_walks_every_request_once(client, officer, reviewer):
    for _ in range(7):
        new_request(client, officer, Instrument.INQUIRY)
    verified_login(client, reviewer)
    from requests_app.selectors import QueueFilters, review_queue

    seen, cursor = [], None
    while True:
        page = review_queue(reviewer, QueueFilters(), cursor=cursor, size=3)
        seen.extend(r.pk for r in page.rows)
        cursor = page.next_cursor
        if not cursor:
            break
    assert sorted(seen) == sorted(LegalRequest.objects.values_list("pk", flat=True))
    assert len(seen) == len(set(seen)) == 7


# --- Detail and verification panel -------------------------------------------------------------


def test_detail_shows_the_verification_evidence(client, officer, reviewer, authority):
    legal_request = new_request(client, officer, Instrument.EPOC)
    verified_login(client, reviewer)
    page = client.get(reverse("review:detail", args=[legal_request.public_id])).content.decode()
    assert authority.source_reference in page
    assert "matches this authority in the registry" in page
    assert "Power check: the registry and the law allow" in page
    assert "Second factor at submission: Authenticator app (#" in page  # named, not its id
    assert "New officer account" in page  # the factory's officer was created today
    assert "order.pdf" in page
    assert AccessLog.objects.filter(
        user=reviewer, action=AccessLog.Action.VIEW_REQUEST, request=legal_request
    ).exists()


def test_emergency_request_shows_the_registry_callback_number_not_one_from_the_request(
    client, officer, reviewer, authority
):
    legal_request = new_request(
        client,
        officer,
        Instrument.EMERGENCY_DISCLOSURE,
        statement_of_reasons="Call me back on +33 7 99 99 99 99 urgently",
    )
    verified_login(client, reviewer)
    page = client.get(reverse("review:detail", args=[legal_request.public_id])).content.decode()
    assert f'id="callback-phone">{authority.callback_phone}<' in page
    assert "First emergency request of this officer account." in page


def test_documents_open_through_the_access_checked_view_and_are_logged(client, officer, reviewer):
    legal_request = new_request(client, officer)
    doc = legal_request.attachments.get()
    verified_login(client, reviewer)
    response = client.get(
        reverse("review:attachment", args=[legal_request.public_id, doc.public_id])
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    log = AccessLog.objects.get(action=AccessLog.Action.OPEN_ATTACHMENT)
    assert log.user == reviewer and log.request == legal_request and log.ip_address == "127.0.0.1"


# --- Actions ----------------------------------------------------------------------------------


def test_accept_clarify_answer_respond_close_with_emails_to_the_authority(
    client, officer, reviewer
):
    with time_machine.travel("2026-11-27 10:00Z", tick=False):
        legal_request = new_request(client, officer)
        verified_login(client, reviewer)
        act(client, legal_request, "accept")
        legal_request.refresh_from_db()
        assert legal_request.status == Status.IN_REVIEW
    with time_machine.travel("2026-11-28 10:00Z", tick=False):
        verified_login(client, reviewer)
        act(client, legal_request, "clarify", {"question": "Which period exactly?"})
        legal_request.refresh_from_db()
        assert legal_request.status == Status.CLARIFICATION and legal_request.due_at is None
    with time_machine.travel("2026-11-29 10:00Z", tick=False):
        verified_login(client, officer)
        client.post(
            reverse("requests:message", args=[legal_request.public_id]), {"body": "October."}
        )
        legal_request.refresh_from_db()
        assert legal_request.status == Status.IN_REVIEW
        assert legal_request.due_at.isoformat() == "2026-12-08T10:00:00+00:00"  # one day later
        verified_login(client, reviewer)
        act(client, legal_request, "respond", {"files": [produced_file()], "note": ""})
        legal_request.refresh_from_db()
        assert legal_request.status == Status.RESPONDED
        assert legal_request.answered_at.isoformat() == "2026-11-29T10:00:00+00:00"
        act(client, legal_request, "close", {"note": "done"})
        deliver_all_due()
    legal_request.refresh_from_db()
    assert legal_request.status == Status.CLOSED
    to_officer = [m.subject for m in mail.outbox if m.to == [officer.email]]
    assert any("In review" in s for s in to_officer)
    assert any("Clarification requested" in s for s in to_officer)
    assert any("Response ready" in s for s in to_officer)
    assert any("Closed" in s for s in to_officer)
    kinds = list(legal_request.events.values_list("kind", flat=True))
    for kind in ("accepted", "clock_stopped", "clock_restarted", "responded", "closed"):
        assert kind in kinds


def test_authority_downloads_produced_data_until_the_link_expires_and_each_try_is_logged(
    client, officer, reviewer
):
    legal_request = new_request(client, officer)
    verified_login(client, reviewer)
    act(client, legal_request, "accept")
    act(client, legal_request, "respond", {"files": [produced_file()]})
    produced = ProducedData.objects.get()
    assert produced.file.name.startswith("produced/") and "export" not in produced.file.name
    verified_login(client, officer)
    page = client.get(reverse("requests:detail", args=[legal_request.public_id])).content.decode()
    url = reverse("requests:produced", args=[legal_request.public_id, produced.public_id])
    assert url in page
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"account,ip")
    assert response["Content-Type"] == "application/octet-stream"
    with time_machine.travel(produced.expires_at + timedelta(minutes=1), tick=False):
        verified_login(client, officer)
        assert client.get(url).status_code == 410
    actions = list(
        AccessLog.objects.filter(request=legal_request, user=officer).values_list(
            "action", flat=True
        )
    )
    assert "download_produced" in actions and "download_refused" in actions


def test_refusal_with_a_ground_produces_a_notice_for_the_authority(client, officer, reviewer):
    legal_request = new_request(client, officer)
    verified_login(client, reviewer)
    act(
        client,
        legal_request,
        "refuse",
        {"ground": "data_not_stored", "explanation": "Deleted in 2025."},
    )
    legal_request.refresh_from_db()
    assert legal_request.status == Status.REFUSED
    verified_login(client, officer)
    notice = client.get(reverse("requests:notice", args=[legal_request.public_id])).content.decode()
    assert "The data requested is not stored" in notice
    assert "Deleted in 2025." in notice
    assert "Annex III" in notice


def test_refusal_without_explanation_is_refused(client, officer, reviewer):
    legal_request = new_request(client, officer)
    verified_login(client, reviewer)
    response = act(client, legal_request, "refuse", {"ground": "other", "explanation": ""})
    # The form comes back with the field's error, the ground as chosen.
    assert response.status_code == 200
    page = response.content.decode()
    assert "This field is required." in page
    assert '<option value="other" selected>' in page
    legal_request.refresh_from_db()
    assert legal_request.status == Status.SUBMITTED


def test_partial_response_needs_a_note(client, officer, reviewer):
    legal_request = new_request(client, officer)
    verified_login(client, reviewer)
    act(client, legal_request, "accept")
    act(client, legal_request, "respond", {"files": [produced_file()], "partial": "on"})
    legal_request.refresh_from_db()
    assert legal_request.status == Status.IN_REVIEW
    act(
        client,
        legal_request,
        "respond",
        {"files": [produced_file()], "partial": "on", "note": "Content data not stored"},
    )
    legal_request.refresh_from_db()
    assert legal_request.status == Status.PARTIALLY_RESPONDED


def test_preservation_is_confirmed_and_its_extension_too(client, officer, reviewer):
    legal_request = new_request(client, officer, Instrument.EPOC_PR)
    verified_login(client, reviewer)
    act(client, legal_request, "accept")
    act(client, legal_request, "preserve")
    legal_request.refresh_from_db()
    assert legal_request.status == Status.PRESERVED and legal_request.answered_at is not None
    verified_login(client, officer)
    client.post(
        reverse("requests:preservation", args=[legal_request.public_id]), {"action": "extend"}
    )
    verified_login(client, reviewer)
    act(client, legal_request, "confirm_extension")
    assert legal_request.events.filter(kind=RequestEvent.Kind.EXTENSION_CONFIRMED).count() == 1
    act(client, legal_request, "confirm_extension")  # twice: refused, still one
    assert legal_request.events.filter(kind=RequestEvent.Kind.EXTENSION_CONFIRMED).count() == 1


def test_wrong_state_is_refused_with_a_message(client, officer, reviewer):
    legal_request = new_request(client, officer)
    verified_login(client, reviewer)
    response = act(client, legal_request, "close", {"note": "Nothing to keep"})
    # The closing form comes back with the reason, the note as typed.
    assert response.status_code == 200
    page = response.content.decode()
    assert "cannot become" in page
    assert 'value="Nothing to keep"' in page
    legal_request.refresh_from_db()
    assert legal_request.status == Status.SUBMITTED


def test_reviewer_cannot_assign_to_someone_else_but_a_lead_can(client, officer, reviewer, lead):
    legal_request = new_request(client, officer)
    verified_login(client, reviewer)
    act(client, legal_request, "assign", {"assignee": lead.pk})
    legal_request.refresh_from_db()
    assert legal_request.assignee is None
    act(client, legal_request, "assign", {"assignee": reviewer.pk})
    legal_request.refresh_from_db()
    assert legal_request.assignee == reviewer
    verified_login(client, lead)
    act(client, legal_request, "assign", {"assignee": lead.pk})
    legal_request.refresh_from_db()
    assert legal_request.assignee == lead


def test_assign_to_me_is_one_click_and_gone_once_assigned(client, officer, reviewer):
    legal_request = new_request(client, officer)
    verified_login(client, reviewer)
    url = reverse("review:detail", args=[legal_request.public_id])
    page = client.get(url).content.decode()
    button = re.search(
        r'<form [^>]*>(?:(?!</form>).)*id="assign-to-me".*?</form>', page, re.S
    ).group(0)
    # The form carries the reviewer as assignee: one click, nothing to choose.
    assert f'name="assignee" value="{reviewer.pk}"' in button
    action = re.search(r'action="([^"]+)"', button).group(1)
    assignee = re.search(r'name="assignee" value="(\d+)"', button).group(1)
    assert client.post(action, {"assignee": assignee}).status_code == 302
    legal_request.refresh_from_db()
    assert legal_request.assignee == reviewer
    assert 'id="assign-to-me"' not in client.get(url).content.decode()


def test_destructive_actions_look_apart_and_ask_first(client, officer, reviewer):
    legal_request = new_request(client, officer)
    verified_login(client, reviewer)
    page = client.get(
        reverse("review:detail", args=[legal_request.public_id]) + "?action=refuse"
    ).content.decode()
    # Refuse (open now; close, offered once answered, is marked the same way in ACTIONS).
    url = reverse("review:action", args=[legal_request.public_id, "refuse"])
    form = re.search(rf'<form [^>]*action="{url}"[^>]*>.*?</form>', page, re.S).group(0)
    assert "data-confirm=" in form and "button-danger" in form
    # The question is asked by a static script (the CSP allows no inline script).
    assert re.search(r'<script src="/static/js/confirm\.[^"]*" defer>', page)
    verified_login(client, officer)
    page = client.get(reverse("requests:detail", args=[legal_request.public_id])).content.decode()
    url = reverse("requests:withdraw", args=[legal_request.public_id])
    form = re.search(rf'<form [^>]*action="{url}"[^>]*>.*?</form>', page, re.S).group(0)
    assert "data-confirm=" in form and "button-danger" in form


# --- Emergency rules --------------------------------------------------------------------------


@pytest.fixture
def emergency(client, officer):
    return new_request(client, officer, Instrument.EMERGENCY_DISCLOSURE)


def test_emergency_disclosure_without_callback_is_refused_by_service_and_view(
    client, emergency, reviewer, lead
):
    verified_login(client, reviewer)
    act(client, emergency, "accept")
    with pytest.raises(PermissionDenied, match="call-back"):
        review_services.legal_request_respond(
            reviewer=reviewer, legal_request=emergency, files=[produced_file()]
        )
    response = act(client, emergency, "respond", {"files": [produced_file()]})
    assert "Call the authority back" in client.get(response.url).content.decode()
    emergency.refresh_from_db()
    assert emergency.status == Status.IN_REVIEW
    assert not ProducedData.objects.exists()


def test_emergency_disclosure_with_one_reviewer_only_is_refused(client, emergency, reviewer):
    verified_login(client, reviewer)
    act(client, emergency, "accept")
    act(client, emergency, "callback", {"outcome": "confirmed", "notes": "Duty officer"})
    with pytest.raises(PermissionDenied, match="second pair of eyes"):
        review_services.legal_request_respond(
            reviewer=reviewer, legal_request=emergency, files=[produced_file()]
        )
    # A reviewer cannot approve (leads only), so they cannot be their own second pair of eyes.
    act(client, emergency, "approve")
    assert not emergency.approvals.exists()
    act(client, emergency, "respond", {"files": [produced_file()]})
    emergency.refresh_from_db()
    assert emergency.status == Status.IN_REVIEW


def test_lead_cannot_approve_and_send_alone(client, emergency, lead):
    passkey_login(client, lead)  # approvals need a passkey
    act(client, emergency, "accept")
    act(client, emergency, "callback", {"outcome": "confirmed"})
    approve(client, emergency, lead)
    assert emergency.approvals.count() == 1
    act(client, emergency, "respond", {"files": [produced_file()]})
    emergency.refresh_from_db()
    assert emergency.status == Status.IN_REVIEW  # the approver may not also be the sender


def test_unconfirmed_callback_blocks_approval(client, emergency, reviewer, lead):
    verified_login(client, reviewer)
    act(client, emergency, "callback", {"outcome": "not_confirmed", "notes": "Unknown to them"})
    passkey_login(client, lead)  # approvals need a passkey
    approve(client, emergency, lead)
    assert not emergency.approvals.exists()


def test_emergency_disclosure_with_callback_and_lead_approval_goes_out(
    client, emergency, reviewer, lead, authority
):
    verified_login(client, reviewer)
    act(client, emergency, "accept")
    act(client, emergency, "callback", {"outcome": "confirmed", "notes": "Cdt Martin"})
    callback = CallbackVerification.objects.get()
    assert callback.phone == authority.callback_phone and callback.verified_by == reviewer
    passkey_login(client, lead)  # approvals need a passkey
    approve(client, emergency, lead)
    verified_login(client, reviewer)
    act(client, emergency, "respond", {"files": [produced_file()]})
    emergency.refresh_from_db()
    assert emergency.status == Status.RESPONDED
    internal = emergency.events.filter(kind__in=["callback", "disclosure_approved"])
    assert internal.count() == 2 and not internal.filter(visible_to_authority=True).exists()


# --- Dashboard --------------------------------------------------------------------------------


def test_dashboard_figures_and_transparency_csv(client, officer, outsider, reviewer, lead):
    with time_machine.travel("2026-11-20 10:00Z", tick=False):
        late = new_request(client, officer, Instrument.TCO_REMOVAL)
        answered = new_request(client, outsider, Instrument.EPOC)
        verified_login(client, reviewer)
        act(client, answered, "accept")
    with time_machine.travel("2026-11-20 16:00Z", tick=False):
        verified_login(client, reviewer)
        act(client, answered, "respond", {"files": [produced_file()]})
        act(client, late, "assign", {"assignee": reviewer.pk})
        verified_login(client, lead)
        page = client.get(reverse("review:dashboard")).content.decode()
        response = client.get(
            reverse("review:report_csv"), {"start": "2026-11-01", "end": "2026-11-30"}
        )
    assert 'id="fig-overdue">1<' in page  # the TCO order, 1 h deadline, 6 h ago
    assert "Rui" in page or reviewer.full_name in page
    assert "6 h 0 min" in page  # EPOC answered in 6 hours: median and p90, in hours and minutes
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["member_state", "instrument", "outcome", "requests"]
    assert ["DE", "European Production Order (EPOC)", "responded", "1"] in rows
    assert ["FR", "Removal order for terrorist content (TCO)", "open", "1"] in rows
    assert AccessLog.objects.filter(action="export_report", user=lead).exists()


# --- Audit ------------------------------------------------------------------------------------


def test_audit_rows_cannot_be_changed_by_the_application_or_the_database(client, officer, reviewer):
    legal_request = new_request(client, officer)
    verified_login(client, reviewer)
    client.get(reverse("review:detail", args=[legal_request.public_id]))
    log = AccessLog.objects.get()
    with pytest.raises(PermissionDenied):
        log.save()
    with pytest.raises(PermissionDenied):
        log.delete()
    with pytest.raises(PermissionDenied):
        AccessLog.objects.all().update(object_ref="x")
    with pytest.raises(PermissionDenied):
        AccessLog.objects.all().delete()
    from django.db import DatabaseError, transaction

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE requests_app_accesslog SET object_ref = 'tampered'")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM requests_app_accesslog")
    assert AccessLog.objects.get().object_ref == legal_request.reference


def test_approval_without_a_fresh_second_factor_code_is_refused(client, emergency, reviewer, lead):
    verified_login(client, reviewer)
    act(client, emergency, "callback", {"outcome": "confirmed"})
    passkey_login(client, lead)  # a verified session is not enough for this step
    response = act(client, emergency, "approve", {"otp_token": "000000"})
    assert "needs a fresh code" in client.get(response.url).content.decode()
    act(client, emergency, "approve")
    assert not emergency.approvals.exists()
    # The wrong code is counted by the throttle but does not hold the right one back.
    approve(client, emergency, lead)
    assert emergency.approvals.count() == 1


def test_walkthrough_submission_to_response_changes_the_dashboard(
    client, officer, reviewer, lead, capsys
):
    def figures():
        verified_login(client, lead)
        page = client.get(reverse("review:dashboard")).content.decode()
        import re

        def grab(id_):
            return int(re.search(rf'id="{id_}">(\d+)<', page).group(1))

        answered = re.findall(r"<td>European Production Order \(EPOC\)</td><td>(\d+)</td>", page)
        return {
            "overdue": grab("fig-overdue"),
            "due within hour": grab("fig-hour"),
            "due within day": grab("fig-day"),
            "EPOC answered (90 days)": int(answered[0]) if answered else 0,
        }

    with time_machine.travel("2026-11-27 08:00Z", tick=False):
        before = figures()
        legal_request = new_request(
            client,
            officer,
            Instrument.EPOC,
            is_emergency="on",
            emergency_justification="Child in danger",
        )
        during = figures()
        verified_login(client, reviewer)
        act(client, legal_request, "accept")
        act(client, legal_request, "callback", {"outcome": "confirmed", "notes": "Duty officer"})
        passkey_login(client, lead)  # approvals need a passkey session
        approve(client, legal_request, lead)
    with time_machine.travel("2026-11-27 10:30Z", tick=False):
        verified_login(client, reviewer)
        act(client, legal_request, "respond", {"files": [produced_file()]})
        after = figures()
    legal_request.refresh_from_db()
    assert legal_request.status == Status.RESPONDED
    assert during["due within day"] == before["due within day"] + 1
    assert after["due within day"] == before["due within day"]
    assert after["EPOC answered (90 days)"] == 1
    with capsys.disabled():
        print(f"\n  {legal_request.reference} emergency EPOC: submitted 08:00, answered 10:30 UTC")
        for key in before:
            print(f"  {key:26} before {before[key]}  open {during[key]}  answered {after[key]}")


def test_keyset_pages_cross_from_dated_to_stopped_clocks_without_loss(client, officer, reviewer):
    from requests_app.selectors import QueueFilters, review_queue

    for _ in range(5):
        new_request(client, officer, Instrument.INQUIRY)
    for legal_request in LegalRequest.objects.order_by("pk")[:3]:  # three clocks stopped: no due_at
        review_services.legal_request_ask_clarification(
            reviewer=reviewer, legal_request=legal_request, question="?"
        )
    seen, cursor = [], None
    while True:
        page = review_queue(reviewer, QueueFilters(), cursor=cursor, size=2)
        seen.extend(r.pk for r in page.rows)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    dated = list(
        LegalRequest.objects.filter(due_at__isnull=False)
        .order_by("due_at", "id")
        .values_list("pk", flat=True)
    )
    undated = list(
        LegalRequest.objects.filter(due_at__isnull=True).order_by("id").values_list("pk", flat=True)
    )
    assert seen == dated + undated
