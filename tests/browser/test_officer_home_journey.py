"""The officer's home in a real browser (issue 17): a clarification the platform asked shows on
the home, the officer follows it to the request, answers, and the home then shows the request
among the deadlines (the clock runs again) instead."""

import pytest

from requests_app import services
from requests_app.models import LegalRequest, Status
from requests_app.review import services as review_services
from tests.browser.conftest import screenshot
from tests.browser.test_journeys import cast, check_axe, log_in  # noqa: F401 - cast: a fixture

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def asked_for_clarification(officer, reviewer, question: str) -> LegalRequest:
    """A request of the officer's, submitted, on which the legal team has asked a question."""
    draft = services.legal_request_save_draft(
        officer=officer,
        instrument="inquiry",
        data={
            "case_reference": "OFAC-2026-2001",
            "statement_of_reasons": "Which data do you keep for deleted accounts?",
            "language": "en",
        },
        targets=[],
    )
    legal_request = services.legal_request_submit(officer=officer, legal_request=draft)
    review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
    review_services.legal_request_ask_clarification(
        reviewer=reviewer, legal_request=legal_request, question=question
    )
    legal_request.refresh_from_db()
    assert legal_request.status == Status.CLARIFICATION
    return legal_request


def test_journey_home_shows_a_clarification_the_officer_follows_and_answers(
    portal,
    page_factory,
    cast,  # noqa: F811 - the fixture imported above
):
    officer = cast["officer"]
    legal_request = asked_for_clarification(
        officer, cast["reviewer"], "For which period do you need the answer?"
    )

    page = page_factory()
    log_in(page, portal, officer)
    agenda = page.locator("#agenda")
    agenda.wait_for()
    assert "Answer the platform" in agenda.inner_text()
    assert "For which period do you need the answer?" in agenda.inner_text()
    screenshot(page, "16-officer-home-agenda")
    check_axe(page, "officer home (agenda)")

    link = agenda.get_by_role("link", name=legal_request.reference)
    link.click()
    page.wait_for_url(f"**/requests/{legal_request.public_id}/")
    assert "your answer restarts the legal clock" in page.content()
    page.fill("textarea[name=body]", "From 1 January 2026 to today.")
    page.click("main form button:has-text('Send')")
    page.wait_for_selector("text=Message sent.")
    legal_request.refresh_from_db()
    assert legal_request.status == Status.IN_REVIEW and legal_request.due_at is not None

    page.goto(portal + "/home/")
    agenda = page.locator("#agenda")
    assert "Answer the platform" not in agenda.inner_text()
    assert "Deadlines coming" in agenda.inner_text()
    assert legal_request.reference in agenda.inner_text()
