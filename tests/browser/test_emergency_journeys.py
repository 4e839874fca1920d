"""Issue 17 in Chromium. (a) Emergencies first: from the officer's home, the emergency block, the
short emergency form, "what happens next"; the lead's e-mail notice and approval on the
dashboard. (b) Nothing typed is lost: the idle warning's "Stay signed in", then a session that
ends mid-form keeps the text through the new login. axe-core on the new pages."""

import re

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.utils import timezone

from authorities.constants import Instrument
from requests_app.models import LegalRequest, Status
from requests_app.notifications import deliver_all_due
from tests.browser.conftest import screenshot
from tests.browser.test_journeys import (
    cast,  # noqa: F401 (the fixture)
    check_axe,
    code_for,
    key_of,
    log_in,
    log_in_with_passkey,
    open_action,
)
from tests.factories import PASSWORD
from tests.requests_app.helpers import pdf_bytes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_journey_emergency_from_home_to_the_leads_approval(
    portal,
    page_factory,
    cast,  # noqa: F811 (the fixture imported above)
):
    officer, lead = cast["officer"], cast["lead"]
    page = page_factory()
    log_in_with_passkey(page, portal, officer)  # an emergency needs a passkey session

    # 1. Home: the emergency block first; its emergency disclosure card starts the short form.
    block = page.locator("#emergency")
    assert "Emergency: threat to life" in block.inner_text()
    block.locator(f"a[href='/requests/new/{Instrument.EMERGENCY_DISCLOSURE}/']").click()
    page.wait_for_selector("#callback-note")
    assert "+33100000103" in page.inner_text("#callback-note")  # the registry's number
    for not_asked in ("legal_basis", "validating_authority", "language", "offence"):
        assert page.locator(f"form[enctype] [name={not_asked}]").count() == 0, not_asked
    check_axe(page, "emergency form (short)")

    # 2. A first try without the threat: one problem, said once, linked to its field.
    page.fill("input[name=case_reference]", "OFAC-URG-2026-31")
    page.fill("textarea[name=targets]", "@threat.account")
    page.check("input[name=data_categories][value=subscriber]")
    page.fill("textarea[name=statement_of_reasons]", "A user announced a school attack.")
    page.click("button[value=submit]")
    page.wait_for_selector("#refusal")
    assert "1 problem:" in page.inner_text("#refusal")
    assert page.locator("text=needs the emergency justification").count() == 1
    check_axe(page, "emergency form, one problem")
    page.click("#refusal a[href='#id_emergency_justification']")
    assert page.evaluate("document.activeElement.name") == "emergency_justification"
    page.keyboard.type("Attack announced for 8:00 tomorrow at a named school.")
    page.click("button[value=submit]")

    # 3. What happens next: the call-back to the registry number, and the time left.
    page.wait_for_selector("text=received on")
    said = page.inner_text(".messages")
    assert "What happens next: the platform will call your authority back" in said
    screenshot(page, "16-emergency-what-happens-next")
    check_axe(page, "emergency received")
    emergency = LegalRequest.objects.get(case_reference="OFAC-URG-2026-31")
    assert emergency.is_emergency and emergency.status == Status.SUBMITTED

    # 4. The lead's e-mail notice, with the review page's link.
    deliver_all_due()
    notice = next(m for m in mail.outbox if lead.email in m.to)
    assert "Emergency approval waiting" in notice.body
    review_path = f"/review/{emergency.public_id}/"
    assert review_path in notice.body

    # 5. A reviewer accepts it and records the call-back to the registry number.
    reviewer = page_factory()
    log_in(reviewer, portal, cast["reviewer"])
    reviewer.goto(portal + review_path)
    reviewer.click("text=Accept for review")
    reviewer.wait_for_selector("text=Accepted for review.")
    open_action(reviewer, "Record the call-back")
    reviewer.check("input[name=outcome][value=confirmed]")
    reviewer.click("#action-form button[type=submit]")
    reviewer.wait_for_selector("text=Call-back recorded.")

    # 6. The lead approves from the dashboard.
    lead_page = page_factory()
    log_in_with_passkey(lead_page, portal, lead)
    lead_page.goto(portal + "/review/dashboard/")
    waiting = lead_page.locator("#approvals-waiting")
    assert "call-back confirmed: ready to approve" in waiting.inner_text()
    waiting.locator(f"a[href='{review_path}']").click()
    open_action(lead_page, "Approve the emergency disclosure (lead)")
    lead_page.fill("input[name=otp_token]", code_for(key_of(lead), ahead=1))
    lead_page.click("#action-form button[type=submit]")
    lead_page.wait_for_selector("text=Emergency disclosure approved.")
    assert emergency.approvals.filter(approved_by=lead).count() == 1
    lead_page.goto(portal + "/review/dashboard/")
    assert "No emergency waits for a lead's approval." in lead_page.inner_text("#approvals-waiting")


def test_journey_a_session_that_ends_mid_form_keeps_the_text(
    portal,
    page_factory,
    cast,  # noqa: F811 (the fixture imported above)
    tmp_path,
):
    officer = cast["officer"]
    page = page_factory()
    page.clock.install()  # the page's timers, moved on below without waiting half an hour
    log_in(page, portal, officer)
    page.goto(portal + "/requests/new/epoc/")
    reasons = "Typed at length: the account coordinates the sale of stolen identity papers."
    page.fill("input[name=case_reference]", "OFAC-2026-2001")
    page.fill("input[name=legal_basis]", "Regulation (EU) 2023/1543, Art. 5")
    page.fill("input[name=offence]", "Fraud (Code pénal art. 313-1)")
    page.fill("textarea[name=targets]", "@papers.seller")
    page.check("input[name=data_categories][value=subscriber]")
    page.fill("input[name=period_start]", "2026-10-01")
    page.fill("input[name=period_end]", "2026-10-31")
    page.fill("textarea[name=statement_of_reasons]", reasons)
    pdf = tmp_path / "signed-order.pdf"
    pdf.write_bytes(pdf_bytes())
    page.set_input_files("input[name=documents]", str(pdf))

    # 1. 26 minutes without a request: the warning, and "Stay signed in" keeps the session.
    assert page.locator("#session-warning").is_hidden()
    page.clock.fast_forward("26:00")
    page.wait_for_selector("#session-warning", state="visible")
    assert "You will be signed out in 4 minutes." in page.inner_text("#session-warning")
    screenshot(page, "17-session-warning")
    check_axe(page, "session warning")
    with page.expect_response(re.compile(r".*/session/keep-alive/")) as answer:
        page.click("#session-stay")
    assert answer.value.status == 200 and answer.value.json()["seconds_left"] > 0
    page.wait_for_selector("#session-warning", state="hidden")

    # 2. Then the session ends anyway (expired server-side); the officer presses submit.
    Session.objects.update(expire_date=timezone.now() - timezone.timedelta(seconds=1))
    page.click("button[value=submit]")
    page.wait_for_url(re.compile(r".*/login/\?next=.*"))
    assert "What you typed is kept for you" in page.inner_text(".messages")
    assert "kept" not in page.url and LegalRequest.objects.count() == 0
    check_axe(page, "login after an ended session")

    # 3. Password and second factor again: back on the form, with the text, files to attach.
    page.fill("input[name=username]", officer.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/login/second-factor/.*"))
    page.fill("input[name=token]", code_for(key_of(officer), ahead=1))
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/requests/new/epoc/$"))
    assert page.input_value("textarea[name=statement_of_reasons]") == reasons
    assert page.input_value("input[name=period_end]") == "2026-10-31"
    assert page.is_checked("input[name=data_categories][value=subscriber]")
    assert "Attach these files again: signed-order.pdf." in page.inner_text(".messages")
    screenshot(page, "18-typed-text-kept")
    check_axe(page, "form restored after login")
    page.set_input_files("input[name=documents]", str(pdf))
    page.click("button[value=submit]")
    page.wait_for_selector("text=received on")
    assert LegalRequest.objects.get().status == Status.SUBMITTED
