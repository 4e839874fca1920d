"""Answering fits the instrument, in a real browser (issue 17): a TCO removal order answered by
confirming the removal (no file), an inquiry answered in writing after a message that leaves
the clock running. The officer reads each answer on the request's page."""

import pytest

from requests_app.models import LegalRequest, Message, Status
from tests.browser import test_journeys as journeys
from tests.browser.conftest import screenshot
from tests.browser.test_journeys import check_axe, log_in
from tests.requests_app.helpers import pdf_bytes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

cast = journeys.cast  # the same users as the other journeys (a fixture)


def submit(page, portal: str, instrument: str, fields: dict, tmp_path=None) -> LegalRequest:
    """The officer's form for `instrument`, filled and submitted; the request as received."""
    page.goto(f"{portal}/requests/new/{instrument}/")
    for name, value in fields.items():
        page.fill(f"[name={name}]", value)
    page.select_option("select[name=language]", "fr")
    if tmp_path is not None:
        pdf = tmp_path / "order.pdf"
        pdf.write_bytes(pdf_bytes())
        page.set_input_files("input[name=documents]", str(pdf))
    page.click("button[value=submit]")
    page.wait_for_load_state()
    if "received on" not in page.content():
        raise AssertionError(page.inner_text("main")[:3000])
    return LegalRequest.objects.exclude(status=Status.DRAFT).latest("pk")


def accept(reviewer, portal: str, legal_request: LegalRequest) -> None:
    reviewer.goto(f"{portal}/review/{legal_request.public_id}/")
    reviewer.click("text=Accept for review")
    reviewer.wait_for_selector("text=Accepted for review.")


def test_journey_tco_removal_confirmed_without_a_file(portal, page_factory, cast, tmp_path):
    officer = page_factory()
    log_in(officer, portal, cast["officer"])
    legal_request = submit(
        officer,
        portal,
        "tco_removal",
        {
            "case_reference": "OFAC-TCO-2026-7",
            "legal_basis": "Regulation (EU) 2021/784, Art. 3",
            "targets": "https://platform.example/p/123456",
            "statement_of_reasons": "A video glorifying an attack, posted this morning.",
        },
        tmp_path,
    )

    reviewer = page_factory()
    log_in(reviewer, portal, cast["reviewer"])
    accept(reviewer, portal, legal_request)
    # A removal order is answered by the removal: no file to upload, no written answer.
    bar = reviewer.locator("#action-bar")
    assert bar.locator("text=Confirm the removal").count() == 1
    assert bar.locator("text=Respond with produced data").count() == 0
    assert bar.locator("text=Send the answer").count() == 0
    bar.locator("text=Confirm the removal").click()
    assert reviewer.locator("input[name=files]").count() == 0
    assert reviewer.input_value("input[name=removed_at]")  # now, in the reviewer's zone
    reviewer.fill("#action-form textarea[name=note]", "Access disabled in the EU.")
    screenshot(reviewer, "answers-01-confirm-removal")
    check_axe(reviewer, "review detail (removal order)")
    reviewer.click("#action-form button[type=submit]")
    reviewer.wait_for_selector("text=Removal confirmed; the authority is told.")
    legal_request.refresh_from_db()
    assert legal_request.status == Status.RESPONDED
    assert legal_request.content_removed_at is not None
    assert not legal_request.produced.exists()

    officer.goto(f"{portal}/requests/{legal_request.public_id}/")
    confirmation = officer.inner_text("#removal-confirmed")
    assert "Content removed or access disabled on" in confirmation
    assert "Access disabled in the EU." in officer.inner_text("main")
    assert "Responded" in officer.inner_text("main")
    screenshot(officer, "answers-02-officer-sees-removal")
    check_axe(officer, "request detail (removal confirmed)")


def test_journey_inquiry_answered_in_text(portal, page_factory, cast):
    officer = page_factory()
    log_in(officer, portal, cast["officer"])
    legal_request = submit(
        officer,
        portal,
        "inquiry",
        {"statement_of_reasons": "How long do you keep the data of deleted accounts?"},
    )

    reviewer = page_factory()
    log_in(reviewer, portal, cast["reviewer"])
    accept(reviewer, portal, legal_request)
    bar = reviewer.locator("#action-bar")
    assert bar.locator("text=Respond with produced data").count() == 0
    assert bar.locator("text=Confirm the removal").count() == 0
    # A plain message first: the page says the clock keeps running (a clarification stops it).
    bar.locator("text=Send the message (the clock keeps running)").click()
    assert "the clock keeps running" in reviewer.inner_text("#action-form")
    reviewer.fill("#action-form textarea[name=body]", "We are checking with the team.")
    reviewer.click("#action-form button[type=submit]")
    reviewer.wait_for_selector("text=Message sent; the clock keeps running.")
    legal_request.refresh_from_db()
    assert legal_request.status == Status.IN_REVIEW and legal_request.due_at is not None
    # In the outbox for the officer (no worker runs here to send it; test_answers.py sends it).
    assert legal_request.notifications.filter(
        template="platform_message", recipients=[cast["officer"].email]
    ).exists()

    answer = "We keep the data of deleted accounts for 90 days, then erase them."
    reviewer.locator("#action-bar").locator("text=Send the answer").click()
    reviewer.fill("#action-form textarea[name=answer]", answer)
    screenshot(reviewer, "answers-03-written-answer")
    check_axe(reviewer, "review detail (inquiry)")
    reviewer.click("#action-form button[type=submit]")
    reviewer.wait_for_selector("text=Answer sent to the authority.")
    legal_request.refresh_from_db()
    assert legal_request.status == Status.RESPONDED
    assert legal_request.messages.get(kind=Message.Kind.ANSWER).body == answer

    officer.goto(f"{portal}/requests/{legal_request.public_id}/")
    assert answer in officer.inner_text("#written-answer")
    assert "We are checking with the team." in officer.inner_text("main")
    screenshot(officer, "answers-04-officer-reads-answer")
    check_axe(officer, "request detail (written answer)")
