"""The officer's own work (issue 17): the home says what waits for the officer (a clarification
to answer, the nearest deadlines, produced data to fetch), each item a link to the request;
the list puts the urgent first, finds a case reference, names drafts by their case reference;
"Copy this request" starts a follow-up draft."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from authorities.constants import Instrument
from requests_app import selectors
from requests_app import services as officer_services
from requests_app.models import Attachment, LegalRequest, RequestEvent, Status
from requests_app.review import services as review_services
from tests.conftest import verified_login
from tests.requests_app.helpers import VALID, submit

pytestmark = pytest.mark.django_db


def submitted(client, officer, case_reference: str, instrument=Instrument.EPOC) -> LegalRequest:
    verified_login(client, officer)
    data = {**VALID[instrument], "case_reference": case_reference}
    assert submit(client, instrument, data).status_code == 302
    return LegalRequest.objects.exclude(status=Status.DRAFT).latest("pk")


def clarification_asked(legal_request, reviewer, question="Which account exactly?"):
    review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
    review_services.legal_request_ask_clarification(
        reviewer=reviewer, legal_request=legal_request, question=question
    )
    legal_request.refresh_from_db()
    return legal_request


def produced(legal_request, reviewer, name="export.csv"):
    review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
    review_services.legal_request_respond(
        reviewer=reviewer,
        legal_request=legal_request,
        partial=False,
        note="Here.",
        files=[SimpleUploadedFile(name, b"a,b\n")],
    )
    return legal_request.produced.get()


# --- The agenda (selector) --------------------------------------------------------------------


def test_agenda_lists_a_clarification_with_its_question(client, officer, reviewer):
    legal_request = clarification_asked(
        submitted(client, officer, "CASE-1"), reviewer, question="Which of the two accounts?"
    )
    agenda = selectors.officer_agenda(officer, now=timezone.now())
    assert [r.pk for r in agenda.clarifications] == [legal_request.pk]
    assert agenda.clarifications[0].question == "Which of the two accounts?"
    assert agenda.deadlines == []  # the clock is stopped: nothing due while it waits


def test_agenda_lists_open_requests_by_nearest_due_date(client, officer):
    epoc = submitted(client, officer, "CASE-EPOC")
    tco = submitted(client, officer, "CASE-TCO", Instrument.TCO_REMOVAL)  # 1 hour
    agenda = selectors.officer_agenda(officer, now=timezone.now())
    assert [r.pk for r in agenda.deadlines] == [tco.pk, epoc.pk]


def test_agenda_lists_produced_data_not_yet_downloaded(client, officer, reviewer):
    legal_request = submitted(client, officer, "CASE-2")
    data = produced(legal_request, reviewer)
    assert [p.pk for p in selectors.officer_agenda(officer, now=timezone.now()).downloads] == [
        data.pk
    ]
    client.get(reverse("requests:produced", args=[legal_request.public_id, data.public_id]))
    assert selectors.officer_agenda(officer, now=timezone.now()).downloads == []
    # Downloaded, but its link is about to expire: shown again, to fetch it while it runs.
    soon = data.expires_at - timedelta(days=1)
    assert [p.pk for p in selectors.officer_agenda(officer, now=soon).downloads] == [data.pk]
    assert selectors.officer_agenda(officer, now=data.expires_at).downloads == []


def test_a_long_file_name_still_counts_as_downloaded(client, officer, reviewer):
    """The access log keeps 200 characters: the produced data's id must survive the cut."""
    legal_request = submitted(client, officer, "CASE-3")
    data = produced(legal_request, reviewer, name="x" * 240 + ".csv")
    client.get(reverse("requests:produced", args=[legal_request.public_id, data.public_id]))
    assert selectors.officer_agenda(officer, now=timezone.now()).downloads == []


def test_agenda_leaves_out_data_withdrawn_by_a_failed_ex_post_validation(client, officer, reviewer):
    legal_request = submitted(client, officer, "CASE-VAL")
    produced(legal_request, reviewer)
    # An emergency order whose 48 hours for validation (Art. 4(5)) have passed unvalidated:
    # its download is refused (410), so the home does not offer it.
    LegalRequest.objects.filter(pk=legal_request.pk).update(
        validation_due_at=timezone.now() - timedelta(hours=1)
    )
    assert selectors.officer_agenda(officer, now=timezone.now()).downloads == []


def test_agenda_shows_nothing_of_another_authority_or_a_colleague(
    client, officer, colleague, outsider, reviewer
):
    clarification_asked(submitted(client, officer, "CASE-4"), reviewer)
    for other in (outsider, colleague):
        agenda = selectors.officer_agenda(other, now=timezone.now())
        assert not agenda
    officer.approved_at = None
    officer.save(update_fields=["approved_at"])
    assert not selectors.officer_agenda(officer, now=timezone.now())


# --- The home page ----------------------------------------------------------------------------


def test_home_links_each_item_needing_the_officer_to_its_request(client, officer, reviewer):
    asked = clarification_asked(submitted(client, officer, "CASE-ASK"), reviewer)
    waiting = submitted(client, officer, "CASE-WAIT")
    answered = submitted(client, officer, "CASE-DATA")
    produced(answered, reviewer, name="subscriber.csv")
    page = client.get(reverse("home")).content.decode()
    assert "Answer the platform" in page
    assert reverse("requests:detail", args=[asked.public_id]) in page
    assert "Which account exactly?" in page
    assert reverse("requests:detail", args=[waiting.public_id]) in page
    assert reverse("requests:detail", args=[answered.public_id]) in page
    assert "subscriber.csv" in page
    assert "CASE-ASK" in page and "CASE-WAIT" in page


def test_home_of_an_officer_with_nothing_waiting_says_so(client, officer):
    verified_login(client, officer)
    page = client.get(reverse("home")).content.decode()
    assert "Nothing waits for you" in page


def test_home_of_platform_staff_has_no_agenda(client, reviewer):
    verified_login(client, reviewer)
    page = client.get(reverse("home")).content.decode()
    assert "Nothing waits for you" not in page


# --- The list ---------------------------------------------------------------------------------


def _rows(page: str, references: list[str]) -> list[str]:
    return sorted(references, key=page.index)


def test_list_puts_a_clarification_first_then_the_nearest_due(client, officer, reviewer):
    submitted(client, officer, "CASE-EPOC")
    submitted(client, officer, "CASE-TCO", Instrument.TCO_REMOVAL)
    clarification_asked(submitted(client, officer, "CASE-ASK"), reviewer)
    refused = submitted(client, officer, "CASE-OLD")
    review_services.legal_request_refuse(
        reviewer=reviewer, legal_request=refused, ground="other", explanation="x"
    )
    page = client.get(reverse("requests:list")).content.decode()
    assert _rows(page, ["CASE-EPOC", "CASE-TCO", "CASE-ASK", "CASE-OLD"]) == [
        "CASE-ASK",
        "CASE-TCO",
        "CASE-EPOC",
        "CASE-OLD",
    ]
    assert "Your answer is needed" in page
    newest = client.get(reverse("requests:list"), {"sort": "newest"}).content.decode()
    assert _rows(newest, ["CASE-EPOC", "CASE-TCO", "CASE-ASK", "CASE-OLD"]) == [
        "CASE-OLD",
        "CASE-ASK",
        "CASE-TCO",
        "CASE-EPOC",
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "nonsense"},
        {"sort": "due; DROP TABLE"},
        {"status": "??"},
        {"page": "-1"},
        {"page": "x" * 5000},
        {"q": "x" * 5000},
        {"q": "\x00"},
        {"sort": ["due", "newest"]},
    ],
)
def test_list_falls_back_to_the_default_on_bad_parameters(client, officer, params):
    submitted(client, officer, "CASE-1")
    response = client.get(reverse("requests:list"), params)
    assert response.status_code == 200


def test_list_finds_a_case_reference_or_a_reference(client, officer, outsider):
    first = submitted(client, officer, "PARQUET-2026-0042")
    submitted(client, officer, "OTHER-7")
    page = client.get(reverse("requests:list"), {"q": "2026-0042"}).content.decode()
    assert "PARQUET-2026-0042" in page and "OTHER-7" not in page
    page = client.get(reverse("requests:list"), {"q": first.reference.lower()}).content.decode()
    assert "PARQUET-2026-0042" in page and "OTHER-7" not in page
    verified_login(client, outsider)
    page = client.get(reverse("requests:list"), {"q": "PARQUET"}).content.decode()
    assert "PARQUET-2026-0042" not in page


def test_list_shows_the_instrument_and_names_a_draft_by_its_case_reference(client, officer):
    verified_login(client, officer)
    submit(
        client,
        Instrument.EPOC,
        {**VALID[Instrument.EPOC], "case_reference": "DRAFT-CASE-9"},
        action="draft",
    )
    submit(client, Instrument.INQUIRY, action="draft")  # no case reference
    page = client.get(reverse("requests:list")).content.decode()
    assert "Draft: DRAFT-CASE-9" in page
    assert "Draft (no case reference)" in page
    assert "European Production Order" in page


# --- Copy this request ------------------------------------------------------------------------


def test_copy_makes_a_draft_with_the_fields_and_targets_but_no_documents(client, officer):
    original = submitted(client, officer, "CASE-FOLLOW")
    assert original.attachments.filter(purpose=Attachment.Purpose.ORDER).exists()
    response = client.post(reverse("requests:copy", args=[original.public_id]))
    copy = LegalRequest.objects.filter(status=Status.DRAFT).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("requests:edit", args=[copy.public_id])
    assert copy.officer == officer and copy.authority == original.authority
    assert copy.instrument == original.instrument
    assert copy.case_reference == "CASE-FOLLOW"
    assert copy.legal_basis == original.legal_basis
    assert copy.data_categories == original.data_categories
    assert copy.period_start == original.period_start
    assert sorted(copy.targets.values_list("kind", "value")) == sorted(
        original.targets.values_list("kind", "value")
    )
    assert copy.reference is None and copy.received_at is None and copy.due_at is None
    assert not copy.attachments.exists()
    created = copy.events.get(kind=RequestEvent.Kind.CREATED)
    assert original.reference in created.detail


def test_copy_is_post_only_and_another_authoritys_request_is_404(client, officer, outsider):
    original = submitted(client, officer, "CASE-5")
    url = reverse("requests:copy", args=[original.public_id])
    assert client.get(url).status_code == 405
    verified_login(client, outsider)
    assert client.post(url).status_code == 404
    assert not LegalRequest.objects.filter(status=Status.DRAFT).exists()


def test_a_colleague_copies_a_shared_request_into_their_own_draft(client, officer, colleague):
    original = submitted(client, officer, "CASE-6")
    verified_login(client, colleague)
    url = reverse("requests:copy", args=[original.public_id])
    assert client.post(url).status_code == 404  # not shared: not seen
    officer.authority.colleagues_see_requests = True
    officer.authority.save(update_fields=["colleagues_see_requests"])
    assert client.post(url).status_code == 302
    assert LegalRequest.objects.get(status=Status.DRAFT).officer == colleague


def test_the_request_page_offers_the_copy_to_its_authority(client, officer):
    original = submitted(client, officer, "CASE-7")
    page = client.get(reverse("requests:detail", args=[original.public_id])).content.decode()
    assert reverse("requests:copy", args=[original.public_id]) in page


def test_copy_service_refuses_an_officer_who_may_not_submit(client, officer):
    original = submitted(client, officer, "CASE-8")
    officer.approved_at = None
    officer.save(update_fields=["approved_at"])
    with pytest.raises(PermissionDenied):
        officer_services.legal_request_copy(officer=officer, legal_request=original)
    assert not LegalRequest.objects.filter(status=Status.DRAFT).exists()
