"""The officer's home in a real browser (issue 17): a clarification the platform asked shows on
the home, the officer follows it to the request, answers, and the home then shows the request
among the deadlines (the clock runs again) instead."""

import base64
import re

import pytest

from requests_app import services
from requests_app.models import LegalRequest, Status
from requests_app.review import services as review_services
from tests.browser.conftest import screenshot
from tests.browser.test_journeys import (  # noqa: F401 - cast: a fixture
    cast,
    check_axe,
    code_for,
    log_in,
)
from tests.factories import PASSWORD, OfficerFactory

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


def test_journey_backup_codes_are_downloaded_and_printed(portal, page_factory, cast, tmp_path):  # noqa: F811
    """A new officer sets up the second factor: the codes page downloads them as a text file and
    prints them, its button brought by a static script under the strict CSP."""
    newcomer = OfficerFactory(
        authority=cast["authority"], email="lucie@interieur.gouv.fr", full_name="Lucie Petit"
    )
    page = page_factory()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{portal}/login/")
    page.fill("input[name=username]", newcomer.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/setup/.*"))
    secret = page.inner_text("#totp-secret").replace(" ", "")
    key_hex = base64.b32decode(secret + "=" * (-len(secret) % 8)).hex()
    page.fill("input[name=token]", code_for(key_hex))
    page.click("main button[type=submit]")
    page.wait_for_selector("#backup-codes")
    codes = [li.inner_text() for li in page.query_selector_all("#backup-codes li")]
    assert len(codes) == 10

    with page.expect_download() as download:
        page.click("text=Download as a text file")
    assert download.value.suggested_filename == "backup-codes.txt"
    saved = tmp_path / "codes.txt"
    download.value.save_as(saved)
    assert all(code in saved.read_text() for code in codes)

    # The print button exists only through js/print.js (no inline script under the CSP).
    page.evaluate("window.print = () => { window.printed = true; }")
    page.click("#print-codes")
    assert page.evaluate("window.printed") is True
    page.emulate_media(media="print")
    assert not page.is_visible("#backup-codes-download")
    assert page.is_visible("#backup-codes")
    page.emulate_media(media="screen")
    check_axe(page, "backup codes")
    assert not [e for e in errors if "Content Security Policy" in e]
