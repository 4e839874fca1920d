"""The passkey journey in Chromium, with the DevTools virtual authenticator as the officer's
security key: a session verified with a code is refused an emergency request and told how to
get a passkey; the officer enrols one, logs out, logs in with password and passkey, and the
emergency request goes through. axe-core on each new page."""

import re

import pytest
from django_otp_webauthn.models import WebAuthnCredential

from authorities.models import AccountEvent
from requests_app.models import LegalRequest, Status
from tests.browser.conftest import screenshot, virtual_authenticator
from tests.browser.test_journeys import (
    cast,  # noqa: F401 (the fixture)
    check_axe,
    code_for,
    fill_emergency_epoc,
    key_of,
    log_in,
)
from tests.factories import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_journey_passkey_enrol_login_and_emergency_request(
    portal,
    page_factory,
    mailbox,
    cast,  # noqa: F811 (the fixture imported above)
    tmp_path,
):
    officer = cast["officer"]
    page = page_factory()
    virtual_authenticator(page)  # the officer's security key, empty for now

    # 1. Logged in with the authenticator app's code: the emergency form warns before typing...
    log_in(page, portal, officer)
    page.goto(portal + "/requests/new/emergency_disclosure/")
    assert "Emergency requests need a passkey: add one in your account." in page.inner_text(
        "#passkey-note"
    )
    check_axe(page, "emergency form, passkey note")
    # ...and the server refuses the submission, with a page that says what to do.
    fill_emergency_epoc(
        page, portal, tmp_path, reference="OFAC-2026-1190", targets="@kidnapper.account"
    )
    page.click("button[value=submit]")
    page.wait_for_selector("#passkey-required-message")
    assert "Emergency requests need a passkey" in page.inner_text("#passkey-required-message")
    draft = LegalRequest.objects.get()
    assert draft.status == Status.DRAFT  # kept, nothing typed is lost
    screenshot(page, "13-passkey-required")
    check_axe(page, "passkey required")

    # 2. Enrol: a fresh code, then the browser's ceremony with the security key.
    page.click("text=Add a passkey in my account")
    page.wait_for_url(re.compile(r".*/account/passkeys/.*"))
    check_axe(page, "passkeys")
    page.fill("input[name=name]", "Security key")
    page.fill("input[name=otp_token]", code_for(key_of(officer), ahead=1))
    page.click("main form button[type=submit]:has-text('Continue')")
    page.wait_for_selector("#passkey-create")
    check_axe(page, "passkey creation")
    page.click("#passkey-create button")
    page.wait_for_selector("text=Your passkey is added.")
    assert "Security key" in page.inner_text("#passkey-list")
    screenshot(page, "14-passkeys")
    check_axe(page, "passkeys (one added)")
    assert WebAuthnCredential.objects.filter(user=officer, name="Security key").exists()
    assert AccountEvent.objects.filter(user=officer, kind="passkey_added").exists()
    mailbox.wait_for(officer.email, "passkey was added")

    # 3. Log out; log in with the password and the passkey.
    page.click("form[action='/logout/'] button")
    page.goto(portal + "/login/")
    page.fill("input[name=username]", officer.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/login/second-factor/.*"))
    screenshot(page, "15-second-factor-with-passkey")
    check_axe(page, "second factor with passkey")
    page.click("#passkey-login button")
    page.wait_for_url(re.compile(r".*/home/.*"))
    assert AccountEvent.objects.filter(user=officer, kind="login").count() == 2

    # 4. The emergency request, kept as a draft, now goes through.
    page.goto(f"{portal}/requests/{draft.public_id}/edit/")
    page.click("button[value=submit]")
    page.wait_for_selector("text=received on")
    legal_request = LegalRequest.objects.get()
    assert legal_request.is_emergency and legal_request.status == Status.SUBMITTED
    passkey = WebAuthnCredential.objects.get(user=officer)
    assert legal_request.submitted_device == passkey.persistent_id
