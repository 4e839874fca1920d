"""The journeys users make, in a real browser; screenshots of the main pages for the README, and
axe-core on each of them (0 serious or critical violations)."""

import re
import time

import pytest
from django.contrib.auth.models import Group
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from authorities.models import User
from requests_app.models import LegalRequest, Status
from tests.browser.conftest import axe_violations, give_passkey, screenshot
from tests.factories import PASSWORD, AuthorityFactory, OfficerFactory, UserFactory
from tests.requests_app.helpers import pdf_bytes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

AXE_RESULTS: dict[str, list] = {}


def code_for(key_hex: str, ahead: int = 0) -> str:
    """The TOTP code an authenticator app shows now (ahead=1: the next one, which django-otp
    still accepts; used where a step-up follows a login within the same 30 s)."""
    totp = TOTP(bytes.fromhex(key_hex))
    totp.time = time.time() + 30 * ahead
    return f"{totp.token():06d}"


def with_device(user: User) -> User:
    TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    return user


def key_of(user: User) -> str:
    return user.totpdevice_set.get(confirmed=True).key


def log_in(page, base: str, user: User, ahead: int = 0) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/login/second-factor/.*"))
    page.fill("input[name=token]", code_for(key_of(user), ahead))
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/home/.*"))


def log_in_with_passkey(page, base: str, user: User) -> None:
    """Password, then a passkey instead of the code: emergency requests, their approval and
    the admin need a session verified with one (PORTAL_PHISHING_RESISTANT_FOR)."""
    give_passkey(page, user, base)
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/login/second-factor/.*"))
    page.click("#passkey-login button")
    page.wait_for_url(re.compile(r".*/home/.*"))


def check_axe(page, name: str) -> None:
    violations = axe_violations(page)
    AXE_RESULTS[name] = violations
    assert violations == [], f"{name}: {violations}"


@pytest.fixture
def cast(db):
    authority = AuthorityFactory(
        id="FR-OFAC",
        name="Office anti-cybercriminalité",
        name_en="Anti-Cybercrime Office",
        domains=["interieur.gouv.fr"],
        callback_phone="+33100000103",
    )
    officer = with_device(
        OfficerFactory(
            authority=authority, email="marie@interieur.gouv.fr", full_name="Marie Durand"
        )
    )
    reviewer = with_device(UserFactory(email="reviewer@platform.example", full_name="Rui Reviewer"))
    reviewer.groups.add(Group.objects.get_or_create(name="reviewer")[0])
    lead = with_device(UserFactory(email="lead@platform.example", full_name="Lena Lead"))
    lead.groups.add(Group.objects.get_or_create(name="lead")[0])
    staff = with_device(
        UserFactory(
            email="admin@platform.example", full_name="Ada Admin", is_staff=True, is_superuser=True
        )
    )
    return {
        "authority": authority,
        "officer": officer,
        "reviewer": reviewer,
        "lead": lead,
        "staff": staff,
    }


def test_journey_signup_verify_approve_enrol_login(portal, page_factory, mailbox, cast):
    page = page_factory()
    page.goto(portal + "/")
    screenshot(page, "01-landing")
    check_axe(page, "landing")
    page.click("text=Sign up with an official e-mail")
    page.fill("input[name=email]", "paul.martin@interieur.gouv.fr")
    page.fill("input[name=full_name]", "Paul Martin")
    screenshot(page, "02-signup")
    check_axe(page, "signup")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Check your e-mail")

    message = mailbox.wait_for("paul.martin@interieur.gouv.fr", "Confirm your e-mail")
    link = re.search(r"https?://\S+/signup/verify/\S+/", mailbox.text_of(message)).group(0)
    # The link's page: the name to check and the password, chosen only now, by the mailbox holder.
    page.goto(link)
    assert page.input_value("input[name=full_name]") == "Paul Martin"
    page.fill("input[name=new_password1]", PASSWORD)
    page.fill("input[name=new_password2]", PASSWORD)
    check_axe(page, "choose password")
    page.click("text=Confirm my address")
    page.wait_for_selector("text=Address confirmed")

    # First login: the second factor is set up from the key the page shows.
    page.goto(portal + "/login/")
    page.fill("input[name=username]", "paul.martin@interieur.gouv.fr")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/setup/.*"))
    screenshot(page, "03-second-factor-setup")
    check_axe(page, "second factor setup")
    secret = page.inner_text("#totp-secret").replace(" ", "")
    import base64

    key_hex = base64.b32decode(secret + "=" * (-len(secret) % 8)).hex()
    page.fill("input[name=token]", code_for(key_hex))
    page.click("main button[type=submit]")
    page.wait_for_selector("#backup-codes")
    assert len(page.query_selector_all("#backup-codes li")) == 10
    page.click("text=I have stored them")
    page.wait_for_selector("text=Awaiting approval")

    # Staff find the newcomer among those waiting and approve from their page, beside the
    # registry evidence; the button asks first (static/js/confirm.js, strict CSP).
    admin = page_factory()
    log_in_with_passkey(admin, portal, cast["staff"])
    newcomer = User.objects.get(email="paul.martin@interieur.gouv.fr")
    admin.goto(f"{portal}/admin/authorities/user/")
    admin.click("text=Waiting for approval")
    admin.click("text=paul.martin@interieur.gouv.fr")
    admin.wait_for_selector("#approve-officer")
    assert "matches this authority in the registry" in admin.inner_text(".approval")
    questions = []
    admin.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    admin.click("#approve-officer input[type=submit]")
    admin.wait_for_timeout(300)
    newcomer.refresh_from_db()
    assert newcomer.approved_at is None, "approved although the staff member cancelled"
    assert questions and "paul.martin@interieur.gouv.fr" in questions[0]
    admin.once("dialog", lambda dialog: dialog.accept())
    admin.click("#approve-officer input[type=submit]")
    admin.wait_for_selector("text=Approved: paul.martin@interieur.gouv.fr")
    newcomer.refresh_from_db()
    assert newcomer.approved_at is not None

    page.goto(portal + "/home/")
    page.wait_for_selector("text=Approved")
    screenshot(page, "04-officer-home")


def fill_emergency_epoc(
    page, portal: str, tmp_path, *, reference: str, targets: str, categories=("subscriber",)
) -> None:
    """The EPOC form filled in as an officer would for a kidnapping, marked emergency."""
    page.goto(portal + "/requests/new/epoc/")
    page.fill("input[name=case_reference]", reference)
    page.fill("input[name=legal_basis]", "Regulation (EU) 2023/1543, Art. 5")
    page.fill("input[name=offence]", "Kidnapping (Code pénal art. 224-1)")
    page.fill("textarea[name=targets]", targets)
    for category in categories:
        page.check(f"input[name=data_categories][value={category}]")
    page.fill("input[name=period_start]", "2026-11-01")
    page.fill("input[name=period_end]", "2026-11-26")
    page.fill("textarea[name=statement_of_reasons]", "A child was taken; the suspect uses it.")
    page.check("input[name=is_emergency]")
    page.fill("textarea[name=emergency_justification]", "Imminent threat to the child's life.")
    pdf = tmp_path / "signed-order.pdf"
    pdf.write_bytes(pdf_bytes())
    page.set_input_files("input[name=documents]", str(pdf))


def submit_emergency_epoc(page, portal: str, tmp_path) -> str:
    page.goto(portal + "/requests/new/")
    screenshot(page, "05-new-request")
    check_axe(page, "new request")
    fill_emergency_epoc(
        page,
        portal,
        tmp_path,
        reference="OFAC-2026-1187",
        targets="@kidnapper.account\n+33 6 12 34 56 78",
        categories=("subscriber", "identification"),
    )
    screenshot(page, "06-request-form")
    check_axe(page, "request form")
    page.click("button[value=submit]")
    page.wait_for_load_state()
    if "received on" not in page.content():
        screenshot(page, "debug-submit")
        raise AssertionError(page.inner_text("main")[:3000])
    screenshot(page, "07-request-received")
    check_axe(page, "request detail (officer)")
    return LegalRequest.objects.get(case_reference="OFAC-2026-1187").reference


def open_action(page, label: str) -> None:
    """The review page lists its actions at the top; an action's form opens under the list."""
    page.click(f"#action-bar a:has-text('{label}')")
    page.wait_for_selector("#action-form form")


def test_journey_emergency_request_callback_approval_response_download(
    portal, page_factory, cast, tmp_path
):
    officer_page = page_factory()
    log_in_with_passkey(officer_page, portal, cast["officer"])
    reference = submit_emergency_epoc(officer_page, portal, tmp_path)

    reviewer = page_factory()
    log_in(reviewer, portal, cast["reviewer"])
    reviewer.goto(portal + "/review/")
    first_row = reviewer.locator("tbody tr").first
    assert reference in first_row.inner_text()
    assert "left" in first_row.locator(".status-badge").inner_text()
    screenshot(reviewer, "08-review-queue")
    check_axe(reviewer, "review queue")
    reviewer.click(f"text={reference}")
    assert reviewer.inner_text("#callback-phone") == "+33100000103"  # from the registry
    screenshot(reviewer, "09-review-detail")
    check_axe(reviewer, "review detail")
    reviewer.click("text=Accept for review")
    reviewer.wait_for_selector("text=Accepted for review.")
    open_action(reviewer, "Record the call-back")
    assert reviewer.locator("input[name=outcome]:checked").count() == 0  # no default outcome
    reviewer.check("input[name=outcome][value=confirmed]")
    reviewer.fill("textarea[name=notes]", "Cdt Martin confirmed on the registry number")
    reviewer.click("#action-form button[type=submit]")
    reviewer.wait_for_selector("text=Call-back recorded.")

    lead = page_factory()
    log_in_with_passkey(lead, portal, cast["lead"])
    legal_request = LegalRequest.objects.get(reference=reference)
    lead.goto(f"{portal}/review/{legal_request.public_id}/")
    open_action(lead, "Approve the emergency disclosure (lead)")
    lead.fill("input[name=otp_token]", code_for(key_of(cast["lead"]), ahead=1))
    lead.click("#action-form button[type=submit]")
    lead.wait_for_selector("text=Emergency disclosure approved.")
    lead.goto(portal + "/review/dashboard/")
    screenshot(lead, "10-lead-dashboard")
    check_axe(lead, "lead dashboard")

    export = tmp_path / "subscriber-data.csv"
    export.write_text("account,ip\nkidnapper.account,192.0.2.7\n")
    reviewer.reload()
    open_action(reviewer, "Respond with produced data")
    reviewer.set_input_files("input[name=files]", str(export))
    reviewer.click("#action-form button[type=submit]")
    reviewer.wait_for_selector("text=Response delivered through the portal.")
    legal_request.refresh_from_db()
    assert legal_request.status == Status.RESPONDED

    officer_page.goto(f"{portal}/requests/{legal_request.public_id}/")
    with officer_page.expect_download() as download:
        officer_page.click("text=subscriber-data.csv")
    assert download.value.suggested_filename == "subscriber-data.csv"
    screenshot(officer_page, "11-officer-response")


def test_journey_clarification_stops_and_restarts_the_clock(portal, page_factory, cast, tmp_path):
    officer_page = page_factory()
    log_in_with_passkey(officer_page, portal, cast["officer"])
    reference = submit_emergency_epoc(officer_page, portal, tmp_path)
    legal_request = LegalRequest.objects.get(reference=reference)

    reviewer = page_factory()
    log_in(reviewer, portal, cast["reviewer"])
    reviewer.goto(f"{portal}/review/{legal_request.public_id}/")
    open_action(reviewer, "Ask for clarification")
    reviewer.fill("textarea[name=question]", "Which account handle exactly?")
    reviewer.click("#action-form button[type=submit]")
    reviewer.wait_for_selector("text=the clock is stopped")

    officer_page.goto(f"{portal}/requests/{legal_request.public_id}/")
    assert "Clock stopped since" in officer_page.content()
    assert officer_page.locator(".status-badge", has_text="Clock stopped").count() >= 1
    officer_page.fill("textarea[name=body]", "@kidnapper.account, created on 2 November.")
    officer_page.click("main form button:has-text('Send')")
    officer_page.wait_for_selector("text=Message sent.")
    assert "Clock stopped since" not in officer_page.content()
    assert officer_page.locator(".status-badge", has_text="left").count() >= 1
    legal_request.refresh_from_db()
    assert legal_request.status == Status.IN_REVIEW and legal_request.due_at is not None


def test_review_actions_stay_in_view_and_the_page_fits_a_phone(
    portal, page_factory, cast, tmp_path
):
    officer_page = page_factory()
    log_in_with_passkey(officer_page, portal, cast["officer"])
    legal_request = LegalRequest.objects.get(
        reference=submit_emergency_epoc(officer_page, portal, tmp_path)
    )
    url = f"{portal}/review/{legal_request.public_id}/"
    reviewer = page_factory()
    log_in(reviewer, portal, cast["reviewer"])
    reviewer.goto(url)
    # Read down to the timeline: the action bar is still on screen, at its top.
    reviewer.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    top = reviewer.evaluate("document.getElementById('action-bar').getBoundingClientRect().top")
    assert 0 <= top < 5, top
    # A phone, 390 px wide: no sideways scrolling, the page or an opened form.
    reviewer.set_viewport_size({"width": 390, "height": 844})
    for path in ("", "?action=callback", "?action=refuse", "?action=respond"):
        reviewer.goto(url + path)
        width = reviewer.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)


def test_refusals_a_person_would_meet(portal, page_factory, cast, tmp_path):
    page = page_factory()
    page.goto(portal + "/signup/")
    page.fill("input[name=email]", "agent@police.ch")
    page.fill("input[name=full_name]", "Hans Muster")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Requests from outside EU competent authorities are not processed")
    screenshot(page, "12-refused-signup")

    page.goto(portal + "/login/")
    page.fill("input[name=username]", cast["officer"].email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.fill("input[name=token]", "000000")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=That code is not right.")

    officer_page = page_factory()
    log_in(officer_page, portal, cast["officer"], ahead=1)
    officer_page.goto(portal + "/requests/new/inquiry/")
    officer_page.fill("textarea[name=statement_of_reasons]", "A question")
    fake = tmp_path / "order.pdf"
    fake.write_bytes(b"<html><script>alert(1)</script></html>")
    officer_page.set_input_files("input[name=documents]", str(fake))
    officer_page.click("button[value=submit]")
    officer_page.wait_for_selector("text=is a web page or script, not a PDF, PNG or JPEG")
    assert not LegalRequest.objects.exists()


def test_forms_work_with_the_keyboard_alone(portal, page_factory, cast):
    page = page_factory()
    page.goto(portal + "/login/")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.focus("input[name=username]")
    page.keyboard.type(cast["officer"].email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/second-factor/.*"))
    page.keyboard.type(code_for(key_of(cast["officer"])))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/home/.*"))


def test_journey_enforcing_authority_raises_a_partial_ground(portal, page_factory, cast, tmp_path):
    """e-Evidence Art. 8, 10, 12: an officer submits a notified EPOC; the enforcing authority's
    officer logs in and refuses the content data; once the window has ended, the reviewer
    answers with the remaining categories only."""
    enforcing_authority = AuthorityFactory(
        id="IE-DOJ",
        name_en="Department of Justice (enforcing authority)",
        country="IE",
        kind="other",
        instruments=["inquiry"],
        enforcing=True,
        domains=["justice.ie"],
    )
    enforcer = with_device(
        OfficerFactory(
            authority=enforcing_authority, email="siobhan@justice.ie", full_name="Siobhán Murphy"
        )
    )

    officer_page = page_factory()
    log_in(officer_page, portal, cast["officer"])
    officer_page.goto(portal + "/requests/new/epoc/")
    officer_page.fill("input[name=case_reference]", "OFAC-2026-2210")
    officer_page.fill("input[name=legal_basis]", "Regulation (EU) 2023/1543, Art. 5")
    officer_page.fill("input[name=offence]", "Extortion (Code pénal art. 312-1)")
    officer_page.check("input[name=threshold_met]")
    officer_page.fill("textarea[name=targets]", "@extortion.account")
    for category in ("subscriber", "traffic", "content"):
        officer_page.check(f"input[name=data_categories][value={category}]")
    officer_page.fill("input[name=period_start]", "2026-10-01")
    officer_page.fill("input[name=period_end]", "2026-11-20")
    officer_page.fill("textarea[name=statement_of_reasons]", "Threats sent from the account.")
    officer_page.fill(
        "input[name=validating_authority]", "Juge d'instruction, Tribunal judiciaire de Paris"
    )
    officer_page.check("input[name=enforcing_notified]")
    # The enforcing authority of PORTAL_ENFORCING_STATE (IE) is preselected.
    assert officer_page.input_value("select[name=enforcing_authority]") == "IE-DOJ"
    pdf = tmp_path / "signed-order.pdf"
    pdf.write_bytes(pdf_bytes())
    officer_page.set_input_files("input[name=documents]", str(pdf))
    officer_page.click("button[value=submit]")
    officer_page.wait_for_selector("text=On hold for the enforcing authority (IE) until")
    legal_request = LegalRequest.objects.get(case_reference="OFAC-2026-2210")
    assert legal_request.enforcing_notified and legal_request.hold_until is not None

    enforcer_page = page_factory()
    log_in(enforcer_page, portal, enforcer)
    enforcer_page.click("text=Orders to enforce")
    enforcer_page.click(f"text={legal_request.reference}")
    assert "Threats sent from the account." in enforcer_page.inner_text("main")
    check_axe(enforcer_page, "enforcing authority: order")
    enforcer_page.select_option("select[name=ground]", "immunity_or_press")
    enforcer_page.check("input[name=categories][value=content]")
    enforcer_page.fill("textarea[name=reasons]", "The messages are a journalist's sources.")
    enforcer_page.locator("form", has_text="Raise this ground").locator(
        "input[name=otp_token]"
    ).fill(code_for(key_of(enforcer), ahead=1))
    enforcer_page.click("text=Raise this ground")
    enforcer_page.wait_for_selector("text=Ground for refusal recorded.")
    legal_request.refresh_from_db()
    assert legal_request.refused_categories == ["content"]

    reviewer = page_factory()
    log_in(reviewer, portal, cast["reviewer"])
    reviewer.goto(f"{portal}/review/{legal_request.public_id}/")
    assert "On hold for the enforcing authority (IE) until" in reviewer.inner_text("main")
    assert reviewer.locator("text=Respond with produced data").count() == 0
    reviewer.click("text=Accept for review")
    reviewer.wait_for_selector("text=Accepted for review.")

    # Ten days pass without a confirmation: the sweep releases the hold (Art. 10(2)).
    from requests_app import enforcing

    LegalRequest.objects.filter(pk=legal_request.pk).update(
        hold_until=legal_request.received_at.replace(year=2000)
    )
    assert enforcing.holds_lapse() == 1

    reviewer.reload()
    open_action(reviewer, "Respond with produced data")
    offered = reviewer.locator("input[name=categories]")
    assert sorted(offered.evaluate_all("els => els.map(e => e.value)")) == [
        "subscriber",
        "traffic",
    ]
    export = tmp_path / "subscriber-and-traffic.csv"
    export.write_text("account,ip,at\nextortion.account,192.0.2.9,2026-11-02T10:00Z\n")
    reviewer.set_input_files("input[name=files]", str(export))
    reviewer.check("input[name=categories][value=subscriber]")
    reviewer.check("input[name=categories][value=traffic]")
    reviewer.click("#action-form button[type=submit]")
    reviewer.wait_for_selector("text=Response delivered through the portal.")
    legal_request.refresh_from_db()
    assert legal_request.status == Status.RESPONDED
    assert legal_request.events.filter(
        detail__startswith="Categories delivered: subscriber, traffic"
    ).exists()
