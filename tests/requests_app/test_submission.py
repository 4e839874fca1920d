"""Submitting each instrument through the pages, the legal-requirement refusals, drafts, the
authority's follow-up actions, and the acknowledgment e-mails."""

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from authorities.constants import AuthorityKind, Instrument
from requests_app.models import LegalRequest, Message, RequestEvent, RequestTarget, Status
from requests_app.notifications import deliver_all_due
from requests_app.services import _next_reference
from tests.clock_table import CLOCKS, POLICY_MINUTES, time_allowed
from tests.conftest import passkey_login, verified_login
from tests.factories import OfficerFactory
from tests.requests_app.helpers import VALID, delivered_emails, pdf_upload, submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _documented_policy(settings):
    # The policy deadlines the clock table expects, whatever the environment sets.
    settings.PORTAL_DEADLINE_MINUTES = dict(POLICY_MINUTES)


@pytest.fixture
def reviewer_on_duty(reviewer):
    return reviewer


@pytest.mark.parametrize("instrument", list(CLOCKS))
def test_valid_submission_of_each_instrument(client, officer, reviewer_on_duty, instrument, capsys):
    passkey_login(client, officer)  # the emergency disclosure needs a passkey session
    with time_machine.travel("2026-11-27 10:15:42Z", tick=False):
        response = submit(client, instrument)
        assert response.status_code == 302, response.content.decode()[-2000:]
        legal_request = LegalRequest.objects.get()
        assert response.url == reverse("requests:detail", args=[legal_request.public_id])
        emails = delivered_emails(mail.outbox)
    assert re.fullmatch(r"LR-2026-\d{6}", legal_request.reference)
    assert legal_request.status == Status.SUBMITTED
    assert legal_request.authority == officer.authority  # from the registry, never typed
    assert legal_request.received_at.isoformat() == "2026-11-27T10:15:42+00:00"
    expected_due = (legal_request.received_at + time_allowed(instrument)).replace(second=0)
    assert legal_request.due_at == expected_due
    assert legal_request.events.filter(kind=RequestEvent.Kind.SUBMITTED, actor=officer).exists()

    ack = [m for m in emails if m.to == [officer.email]]
    assert len(ack) == 1 and legal_request.reference in ack[0].subject
    with capsys.disabled():
        print(
            f"\n  {instrument:21} {legal_request.reference}"
            f"  received {legal_request.received_at:%Y-%m-%d %H:%M:%S}"
            f"  due {legal_request.due_at:%Y-%m-%d %H:%M} UTC  ack: {ack[0].subject!r}"
        )
    assert "Received" in ack[0].subject
    # The acknowledgment never carries the content of the request.
    assert VALID[instrument]["statement_of_reasons"] not in ack[0].body
    assert "jane.doe" not in ack[0].body
    assert ack[0].extra_headers["Message-ID"].startswith("<ack.")

    urgent = [m for m in emails if reviewer_on_duty.email in m.to]
    if instrument in (Instrument.TCO_REMOVAL, Instrument.EMERGENCY_DISCLOSURE):
        assert len(urgent) == 1 and urgent[0].subject.startswith("URGENT")
    else:
        assert urgent == []


def test_emergency_epoc_has_an_eight_hour_clock_and_alerts_the_legal_team(
    client, officer, reviewer
):
    passkey_login(client, officer)
    data = {
        **VALID[Instrument.EPOC],
        "is_emergency": "on",
        "emergency_justification": "Kidnapped child; the suspect uses this account now.",
    }
    with time_machine.travel("2026-11-27 10:00Z", tick=False):
        submit(client, Instrument.EPOC, data)
        emails = delivered_emails(mail.outbox)
    legal_request = LegalRequest.objects.get()
    assert legal_request.is_emergency
    assert legal_request.due_at.isoformat() == "2026-11-27T18:00:00+00:00"
    assert any(reviewer.email in m.to and "emergency" in m.subject for m in emails)


def test_references_are_unique_and_sequential(client, officer):
    verified_login(client, officer)
    for _ in range(3):
        submit(client, Instrument.INQUIRY)
    refs = sorted(LegalRequest.objects.values_list("reference", flat=True))
    numbers = [int(r.rsplit("-", 1)[1]) for r in refs]
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]


@pytest.mark.django_db(transaction=True)
def test_submissions_at_the_same_moment_get_distinct_consecutive_references():
    """Eight transactions number at once on PostgreSQL: each waits for the one before it to
    commit (the year's row stays locked), so no number is given twice or skipped."""
    start = threading.Barrier(8)

    def numbered(_):
        try:
            start.wait()
            with transaction.atomic():
                reference = _next_reference(2031)
                time.sleep(0.02)  # hold the year's row while the others ask
            return reference
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        references = list(pool.map(numbered, range(8)))

    assert sorted(references) == [f"LR-2031-{n:06d}" for n in range(1, 9)]


def test_a_submission_rolled_back_gives_its_reference_back():
    with pytest.raises(RuntimeError), transaction.atomic():
        assert _next_reference(2032) == "LR-2032-000001"
        raise RuntimeError("the submission failed after numbering")

    assert _next_reference(2032) == "LR-2032-000001"
    assert _next_reference(2032) == "LR-2032-000002"


def test_targets_are_validated_and_normalised(client, officer):
    verified_login(client, officer)
    data = {**VALID[Instrument.EPOC], "targets": "@Jane.Doe\n0033 6 12 34 56 78\n\n@jane.doe"}
    submit(client, Instrument.EPOC, data)
    values = sorted(RequestTarget.objects.values_list("kind", "value"))
    assert values == [("phone", "+33612345678"), ("username", "@jane.doe")]


def test_bad_input_is_shown_next_to_the_field_and_everything_typed_is_kept(client, officer):
    verified_login(client, officer)
    data = {**VALID[Instrument.EPOC], "targets": "+33 12\nhttps://evil.example/x"}
    response = submit(client, Instrument.EPOC, data)
    assert response.status_code == 200
    body = response.content.decode()
    assert "is not a phone number in international E.164 format" in body
    assert "is not a link to the platform" in body
    assert VALID[Instrument.EPOC]["case_reference"] in body
    assert "Fraud (Code pénal art. 313-1)" in body
    assert LegalRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("instrument", "change", "field_message"),
    [
        (Instrument.EPOC, {"legal_basis": ""}, "needs the legal basis"),
        (Instrument.EPOC, {"offence": ""}, "needs the offence"),
        (Instrument.EPOC, {"targets": ""}, "at least one target identifier"),
        (Instrument.EPOC, {"data_categories": []}, "Choose the categories of data"),
        (Instrument.EPOC, {"period_start": ""}, "Give the time period"),
        (Instrument.EPOC, {"period_end": "2026-08-01"}, "The period ends before it starts"),
        (
            Instrument.EPOC,
            {"data_categories": ["content"], "validating_authority": "Juge X"},
            "Art. 5(4)",
        ),
        (Instrument.DSA_ART9, {"territorial_scope": ""}, "needs the territorial scope"),
        (Instrument.DSA_ART9, {"redress_information": ""}, "needs information about redress"),
        (Instrument.DSA_ART10, {"statement_of_reasons": ""}, "needs a statement of reasons"),
        (Instrument.TCO_REMOVAL, {"targets": "@someone"}, "this instrument takes only"),
        (Instrument.EMERGENCY_DISCLOSURE, {"emergency_justification": ""}, "imminent threat"),
        (Instrument.INQUIRY, {"statement_of_reasons": ""}, "needs a statement of reasons"),
    ],
)
def test_each_legal_requirement_refuses_submission_with_a_clear_message(
    client, officer, instrument, change, field_message
):
    verified_login(client, officer)
    response = submit(client, instrument, {**VALID[instrument], **change})
    if response.status_code == 302:  # saved as a draft, problems shown on the draft page
        response = client.get(response.url)
    body = response.content.decode()
    assert field_message in body
    assert not LegalRequest.objects.exclude(status=Status.DRAFT).exists()


def test_missing_signed_order_document_says_what_is_missing_and_leaves_no_draft(client, officer):
    verified_login(client, officer)
    response = submit(client, Instrument.EPOC, documents=[])
    assert response.status_code == 200
    page = response.content.decode()
    assert "The request was not submitted." in page
    assert "Attach the signed European Production Order (EPOC) document" in page
    assert VALID[Instrument.EPOC]["case_reference"] in page  # everything typed is kept
    assert LegalRequest.objects.count() == 0  # a failed submission leaves no draft
    # A saved draft without the document: submitting it says the same, and adding it works.
    submit(client, Instrument.EPOC, documents=[], action="draft")
    draft = LegalRequest.objects.get()
    edit = reverse("requests:edit", args=[draft.public_id])
    page = client.post(edit, {**VALID[Instrument.EPOC], "action": "submit"}).content.decode()
    assert "Attach the signed European Production Order (EPOC) document" in page
    data = {**VALID[Instrument.EPOC], "action": "submit", "documents": [pdf_upload()]}
    client.post(edit, data)
    draft.refresh_from_db()
    assert draft.status == Status.SUBMITTED


def test_a_failed_submission_shows_every_problem_at_once_and_names_the_files_to_attach_again(
    client, officer
):
    verified_login(client, officer)
    data = {
        **VALID[Instrument.EPOC],
        "period_end": "2026-08-01",  # before the start
        "data_categories": ["content"],
        "validating_authority": "Juge X",  # content data needs a judge (Art. 5(4))
    }
    bad = pdf_upload("not-a-pdf.pdf", b"MZ this is no document")
    response = submit(client, Instrument.EPOC, data, documents=[pdf_upload("signed.pdf"), bad])
    assert response.status_code == 200
    page = response.content.decode()
    refusal = page[page.index('id="refusal"') : page.index("</div>", page.index('id="refusal"'))]
    # The upload error, the period and the validating authority, together at the top.
    assert "The request was not submitted." in refusal
    assert "not-a-pdf.pdf" in refusal
    assert "The period ends before it starts" in refusal
    assert "Art. 5(4)" in refusal
    assert "Attach these files again" in refusal and "signed.pdf" in refusal
    assert LegalRequest.objects.count() == 0


def test_case_reference_too_long_is_refused_with_a_word_not_cut(client, officer):
    verified_login(client, officer)
    long_reference = "PARQUET-" + "7" * 100
    response = submit(
        client, Instrument.EPOC, {**VALID[Instrument.EPOC], "case_reference": long_reference}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "The case reference has 108 characters; at most 100 fit." in page
    assert long_reference in page  # kept, for the officer to shorten
    assert 'maxlength="100"' not in page  # no browser cutting it silently
    assert LegalRequest.objects.count() == 0


def test_target_help_offers_only_what_the_instrument_accepts(client, officer):
    verified_login(client, officer)
    tco = client.get(reverse("requests:create", args=[Instrument.TCO_REMOVAL])).content.decode()
    assert "links to the platform" in tco
    assert "usernames (@name)" not in tco and "phone numbers" not in tco
    epoc = client.get(reverse("requests:create", args=[Instrument.EPOC])).content.decode()
    assert "usernames (@name)" in epoc and "phone numbers" in epoc


def test_police_asking_traffic_data_without_validation_is_refused_naming_the_rule(
    client, other_authority
):
    other_authority.kind = AuthorityKind.POLICE
    other_authority.save()
    police = OfficerFactory(authority=other_authority, email="inspector@bka.bund.de")
    from tests.factories import totp_device

    totp_device(police)
    verified_login(client, police)
    data = {**VALID[Instrument.EPOC], "data_categories": ["traffic"], "threshold_met": "on"}
    page = submit(client, Instrument.EPOC, data).content.decode()
    assert "must be validated by a judge, court or investigating judge" in page
    assert "Art. 4" in page
    assert not LegalRequest.objects.exists()


def test_instrument_not_in_the_registry_is_refused(client, officer, authority):
    authority.instruments = ["inquiry"]
    authority.save()
    verified_login(client, officer)
    page = submit(client, Instrument.EPOC).content.decode()
    assert "The registry does not list European Production Order (EPOC)" in page
    # Six instruments, the EPOC twice (its emergency variant in the emergency block).
    assert client.get(reverse("requests:new")).content.decode().count("Not available") == 7


# --- Drafts and immutability ------------------------------------------------------------------


def test_draft_is_saved_and_resumed(client, officer):
    verified_login(client, officer)
    response = submit(client, Instrument.EPOC, action="draft")
    draft = LegalRequest.objects.get()
    assert draft.status == Status.DRAFT
    page = client.get(response.url).content.decode()
    assert VALID[Instrument.EPOC]["legal_basis"] in page
    assert "order.pdf" in page
    listing = client.get(reverse("requests:list")).content.decode()
    assert "Draft" in listing


def test_officer_deletes_a_draft_after_confirming_and_never_a_submitted_request(
    client, officer, colleague
):
    verified_login(client, officer)
    submit(client, Instrument.EPOC, action="draft")
    draft = LegalRequest.objects.get()
    stored = draft.attachments.get().file
    page = client.get(reverse("requests:detail", args=[draft.public_id])).content.decode()
    assert 'id="delete-draft"' in page
    delete = reverse("requests:delete_draft", args=[draft.public_id])
    client.post(delete)  # not confirmed: nothing happens
    assert LegalRequest.objects.filter(pk=draft.pk).exists()
    verified_login(client, colleague)
    assert client.post(delete, {"confirm": "on"}).status_code in (302, 404)
    assert LegalRequest.objects.filter(pk=draft.pk).exists()  # not the colleague's to delete
    verified_login(client, officer)
    response = client.post(delete, {"confirm": "on"})
    assert response.url == reverse("requests:list")
    assert not LegalRequest.objects.filter(pk=draft.pk).exists()
    assert not stored.storage.exists(stored.name)  # the document is gone too
    submit(client, Instrument.EPOC)
    submitted = LegalRequest.objects.get()
    page = client.get(reverse("requests:detail", args=[submitted.public_id])).content.decode()
    assert 'id="delete-draft"' not in page
    delete = reverse("requests:delete_draft", args=[submitted.public_id])
    client.post(delete, {"confirm": "on"})
    assert LegalRequest.objects.filter(pk=submitted.pk, status=Status.SUBMITTED).exists()


def test_submitted_request_cannot_be_edited(client, officer):
    verified_login(client, officer)
    submit(client, Instrument.EPOC)
    legal_request = LegalRequest.objects.get()
    url = reverse("requests:edit", args=[legal_request.public_id])
    assert client.get(url).status_code == 404
    response = client.post(url, {**VALID[Instrument.EPOC], "legal_basis": "changed"})
    assert response.status_code == 404
    legal_request.refresh_from_db()
    assert legal_request.legal_basis == VALID[Instrument.EPOC]["legal_basis"]


def test_extra_posted_fields_change_nothing(client, officer, other_authority, reviewer):
    verified_login(client, officer)
    data = {
        **VALID[Instrument.EPOC],
        "status": "responded",
        "authority": other_authority.pk,
        "due_at": "2030-01-01T00:00:00Z",
        "reference": "LR-1999-000001",
        "officer": reviewer.pk,
        "received_at": "2020-01-01T00:00:00Z",
    }
    submit(client, Instrument.EPOC, data)
    legal_request = LegalRequest.objects.get()
    assert legal_request.status == Status.SUBMITTED
    assert legal_request.authority == officer.authority
    assert legal_request.officer == officer
    assert legal_request.reference != "LR-1999-000001"
    assert legal_request.received_at > timezone.now() - timedelta(minutes=5)
    expected_due = legal_request.received_at + time_allowed(Instrument.EPOC)
    assert legal_request.due_at == expected_due.replace(second=0, microsecond=0)


def test_unapproved_officer_can_log_in_but_not_submit(client, authority):
    pending = OfficerFactory(authority=authority, email="new@interieur.gouv.fr", approved_at=None)
    from tests.factories import totp_device

    totp_device(pending)
    verified_login(client, pending)
    assert "awaiting approval" in client.get(reverse("requests:new")).content.decode()
    response = submit(client, Instrument.EPOC)
    assert response.status_code == 302
    assert LegalRequest.objects.count() == 0


def test_legal_team_has_no_submission_pages(client, reviewer):
    verified_login(client, reviewer)
    assert client.get(reverse("requests:list")).status_code == 404
    assert client.get(reverse("requests:new")).status_code == 404
    assert submit(client, Instrument.INQUIRY).status_code == 404


# --- After submission -------------------------------------------------------------------------


def submitted(client, officer, instrument=Instrument.EPOC) -> LegalRequest:
    verified_login(client, officer)
    submit(client, instrument)
    return LegalRequest.objects.get()


def test_detail_shows_status_timeline_and_documents(client, officer):
    legal_request = submitted(client, officer)
    page = client.get(reverse("requests:detail", args=[legal_request.public_id])).content.decode()
    assert legal_request.reference in page
    assert "Received" in page
    assert "order.pdf" in page
    assert "+33612345678" in page
    assert "left" in page  # the time-left badge


def test_withdraw_records_the_reason_and_the_status(client, officer):
    legal_request = submitted(client, officer)
    client.post(
        reverse("requests:withdraw", args=[legal_request.public_id]), {"reason": "Case closed"}
    )
    legal_request.refresh_from_db()
    assert legal_request.status == Status.WITHDRAWN
    event = legal_request.events.get(kind=RequestEvent.Kind.WITHDRAWN)
    assert event.detail == "Case closed" and event.actor == officer
    # Withdrawn twice: refused with a message, nothing changes.
    response = client.post(
        reverse("requests:withdraw", args=[legal_request.public_id]),
        {"reason": "again"},
        follow=True,
    )
    assert "cannot become" in response.content.decode()


def test_message_with_attachment_is_recorded_as_amendment(client, officer):
    legal_request = submitted(client, officer)
    client.post(
        reverse("requests:message", args=[legal_request.public_id]),
        {"body": "Please add @second.account", "amendment": "on", "files": [pdf_upload("add.pdf")]},
    )
    message = Message.objects.get()
    assert message.kind == Message.Kind.AMENDMENT
    assert message.attachments.get().original_name == "add.pdf"
    assert legal_request.events.filter(kind=RequestEvent.Kind.AMENDMENT).exists()
    legal_request.refresh_from_db()
    assert (
        legal_request.legal_basis == VALID[Instrument.EPOC]["legal_basis"]
    )  # the order itself unchanged


def test_answering_a_clarification_restarts_the_clock(client, officer, reviewer):
    from requests_app import lifecycle

    with time_machine.travel("2026-11-27 10:00Z", tick=False):
        legal_request = submitted(client, officer)
    assert legal_request.due_at.isoformat() == "2026-12-07T10:00:00+00:00"
    with time_machine.travel("2026-11-28 10:00Z", tick=False):
        lifecycle.transition(
            legal_request=legal_request,
            to=Status.CLARIFICATION,
            actor=reviewer,
            kind=RequestEvent.Kind.CLOCK_STOPPED,
            clock_stopped_at=timezone.now(),
        )
        lifecycle.recompute_due_at(legal_request)
        verified_login(client, officer)  # a new working day, a new session
        page = client.get(
            reverse("requests:detail", args=[legal_request.public_id])
        ).content.decode()
    legal_request.refresh_from_db()
    assert legal_request.due_at is None
    assert "Clock stopped" in page
    with time_machine.travel("2026-11-30 16:30Z", tick=False):
        verified_login(client, officer)
        client.post(
            reverse("requests:message", args=[legal_request.public_id]),
            {"body": "The period is October."},
        )
        deliver_all_due()
    legal_request.refresh_from_db()
    assert legal_request.status == Status.IN_REVIEW
    # 2 days 6 h 30 min paused: the deadline moves by exactly that.
    assert legal_request.due_at.isoformat() == "2026-12-09T16:30:00+00:00"
    assert Message.objects.get().kind == Message.Kind.CLARIFICATION_ANSWER
    assert any("Clarification answered" in m.subject for m in mail.outbox)


def test_preservation_extension_once_and_production_follow_up(client, officer):
    with time_machine.travel("2026-11-27 10:00Z", tick=False):
        legal_request = submitted(client, officer, Instrument.EPOC_PR)
    assert legal_request.preservation_until.isoformat() == "2027-01-26T10:00:00+00:00"
    verified_login(client, officer)  # a fresh session at today's time
    url = reverse("requests:preservation", args=[legal_request.public_id])
    client.post(url, {"action": "extend"})
    legal_request.refresh_from_db()
    assert legal_request.preservation_until.isoformat() == "2027-02-25T10:00:00+00:00"
    response = client.post(url, {"action": "extend"}, follow=True)
    assert "already extended once" in response.content.decode()
    client.post(url, {"action": "production", "production_reference": "EPOC-2026-77"})
    legal_request.refresh_from_db()
    assert legal_request.preservation_until is None
    assert legal_request.events.filter(kind=RequestEvent.Kind.PRODUCTION_CONFIRMED).exists()


def test_officer_list_shows_own_requests_and_filters_by_status(client, officer, colleague):
    verified_login(client, colleague)
    submit(client, Instrument.INQUIRY)
    verified_login(client, officer)
    submit(client, Instrument.INQUIRY)
    submit(client, Instrument.EPOC, action="draft")
    mine = LegalRequest.objects.filter(officer=officer, status=Status.SUBMITTED).get()
    theirs = LegalRequest.objects.get(officer=colleague)
    client.get(reverse("requests:list"))  # shows (and so clears) the "received" messages
    page = client.get(reverse("requests:list")).content.decode()
    assert mine.reference in page and theirs.reference not in page
    filtered = client.get(reverse("requests:list") + "?status=draft").content.decode()
    assert mine.reference not in filtered and "Draft" in filtered


def test_authority_setting_lets_colleagues_see_each_others_requests(
    client, officer, colleague, authority
):
    authority.colleagues_see_requests = True
    authority.save()
    verified_login(client, colleague)
    submit(client, Instrument.INQUIRY)
    theirs = LegalRequest.objects.get()
    verified_login(client, officer)
    assert theirs.reference in client.get(reverse("requests:list")).content.decode()
    assert client.get(reverse("requests:detail", args=[theirs.public_id])).status_code == 200
