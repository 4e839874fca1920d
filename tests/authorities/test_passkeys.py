"""Passkeys (WebAuthn) beside TOTP, and the actions that need a session verified with one:
submitting an emergency request, a lead's emergency approval, staff work in the admin
(settings.PORTAL_PHISHING_RESISTANT_FOR). The ceremonies run through the real views with a
software passkey (tests/webauthn.py) and py_webauthn's real checks."""

import json
import os

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.urls import reverse

from authorities.constants import Instrument
from authorities.devices import DEVICE_COOKIE
from authorities.models import AccountEvent
from requests_app import services
from requests_app.models import LegalRequest, Status
from requests_app.review import services as review_services
from tests.conftest import current_code, verified_login
from tests.factories import PASSWORD
from tests.processes import python_in_portal
from tests.requests_app.helpers import VALID, submit

pytestmark = pytest.mark.django_db

# The passkey modules are imported when a test runs, not with this file, so that on a tree
# without passkeys every test fails by what the pages do (the regression proof), not at import.


def SoftPasskey(**options):  # noqa: N802 (stands for the class)
    from tests.webauthn import SoftPasskey as soft_passkey

    return soft_passkey(**options)


def passkey_login(client, user):
    from tests.conftest import passkey_login as log_in

    return log_in(client, user)


def credentials():
    from django_otp_webauthn.models import WebAuthnCredential

    return WebAuthnCredential.objects


def second_factor():
    from authorities import second_factor as module

    return module


def post_json(client, url_name: str, data: dict | None = None, query: str = ""):
    return client.post(
        reverse(url_name) + query, data=json.dumps(data or {}), content_type="application/json"
    )


def totp_code(user) -> str:
    return current_code(user.totpdevice_set.get(confirmed=True))


def enrol(client, user, passkey, name: str = "YubiKey"):
    """The passkey page's steps: a fresh code, then the registration ceremony."""
    client.post(
        reverse("authorities:passkeys"),
        {"action": "add", "name": name, "otp_token": totp_code(user)},
    )
    options = post_json(client, "authorities:passkey_register_begin").json()
    return post_json(client, "authorities:passkey_register_complete", passkey.register(options))


def password_step(client, user) -> None:
    response = client.post(
        reverse("authorities:login"), {"username": user.email, "password": PASSWORD}
    )
    assert response.status_code == 302 and "/login/second-factor/" in response.url


def passkey_step(client, passkey, *, next_url: str = "", origin: str | None = None):
    options = post_json(client, "authorities:passkey_auth_begin").json()
    query = f"?next={next_url}" if next_url else ""
    answer = passkey.authenticate(options, origin=origin)
    return post_json(client, "authorities:passkey_auth_complete", answer, query)


def session_device(client):
    from django_otp import DEVICE_ID_SESSION_KEY

    return client.session.get(DEVICE_ID_SESSION_KEY)


# --- Enrolment -----------------------------------------------------------------------------------


def test_adding_a_passkey_needs_a_fresh_code_and_is_recorded_and_emailed(client, officer):
    verified_login(client, officer)
    passkey = SoftPasskey()
    # Without the fresh code on the passkey page, the ceremony does not even start.
    refused = post_json(client, "authorities:passkey_register_begin")
    assert refused.status_code == 403 and refused.json()["code"] == "step_up_needed"
    wrong = client.post(
        reverse("authorities:passkeys"), {"action": "add", "name": "Key", "otp_token": "000000"}
    )
    assert "That code is not right." in wrong.content.decode()
    assert post_json(client, "authorities:passkey_register_begin").status_code == 403

    mail.outbox.clear()
    done = enrol(client, officer, passkey, name="YubiKey 5")
    assert done.status_code == 200, done.content
    credential = credentials().get(user=officer)
    assert credential.name == "YubiKey 5" and credential.confirmed
    event = AccountEvent.objects.get(user=officer, kind="passkey_added")
    assert event.detail == "YubiKey 5"
    told = [m for m in mail.outbox if m.to == [officer.email]]
    assert told and "passkey was added" in told[0].subject
    page = client.get(reverse("authorities:passkeys")).content.decode()
    assert "YubiKey 5" in page
    # The step-up opens one ceremony: a second one needs a new code.
    assert post_json(client, "authorities:passkey_register_begin").status_code == 403


def test_a_session_between_password_and_second_factor_cannot_add_a_passkey(client, officer):
    password_step(client, officer)
    response = post_json(client, "authorities:passkey_register_begin")
    # The page is for verified sessions only: sent to the second-factor step.
    assert response.status_code == 302 and "/login/second-factor/" in response.url
    assert not credentials().exists()


def test_removing_a_passkey_needs_a_fresh_code_and_only_removes_ones_own(
    client, officer, colleague
):
    own = SoftPasskey().stored_for(officer, name="Laptop")
    other = SoftPasskey().stored_for(colleague, name="Colleague key")
    verified_login(client, officer)
    client.post(
        reverse("authorities:passkeys"),
        {"action": "remove", "passkey": other.pk, "otp_token": totp_code(officer)},
    )
    assert credentials().filter(pk=other.pk).exists()
    client.post(
        reverse("authorities:passkeys"),
        {"action": "remove", "passkey": own.pk, "otp_token": "000000"},
    )
    assert credentials().filter(pk=own.pk).exists()
    mail.outbox.clear()
    client.post(
        reverse("authorities:passkeys"),
        {"action": "remove", "passkey": own.pk, "otp_token": totp_code(officer)},
    )
    assert not credentials().filter(pk=own.pk).exists()
    assert AccountEvent.objects.filter(user=officer, kind="passkey_removed").exists()
    assert any("passkey was removed" in m.subject for m in mail.outbox)


# --- Login with password and passkey -------------------------------------------------------------


def test_login_with_password_and_passkey_completes_the_login_bookkeeping(client, officer):
    passkey = SoftPasskey()
    credential = passkey.stored_for(officer)
    password_step(client, officer)
    otp_page = client.get(reverse("authorities:otp")).content.decode()
    assert "Use a passkey" in otp_page and "js/passkeys" in otp_page
    key_before = client.session.session_key

    response = passkey_step(client, passkey, next_url="/requests/")
    assert response.status_code == 200, response.content
    assert response.json()["redirect_url"] == "/requests/"
    assert session_device(client) == credential.persistent_id
    assert client.session.session_key != key_before  # a new session key once verified
    assert AccountEvent.objects.filter(user=officer, kind=AccountEvent.Kind.LOGIN).exists()
    assert DEVICE_COOKIE in response.cookies  # the known-browser record, as for a code login
    assert client.get(reverse("requests:list")).status_code == 200


def test_a_passkey_answer_made_on_a_phishing_site_is_refused(client, officer):
    passkey = SoftPasskey()
    passkey.stored_for(officer)
    password_step(client, officer)
    response = passkey_step(client, passkey, origin="https://portal-login.example")
    assert response.status_code in (400, 403, 422)
    assert session_device(client) is None
    assert client.get(reverse("requests:list")).status_code == 302  # still at the login step


def test_another_accounts_passkey_does_not_verify_this_login(client, officer, colleague):
    theirs = SoftPasskey()
    theirs.stored_for(colleague)
    SoftPasskey().stored_for(officer)
    password_step(client, officer)
    response = passkey_step(client, theirs)
    assert response.status_code == 403
    assert session_device(client) is None


def test_a_passkey_is_never_a_login_on_its_own(client, officer):
    SoftPasskey().stored_for(officer)
    response = post_json(client, "authorities:passkey_auth_begin")
    assert response.status_code == 302 and "/login/" in response.url


# --- The policy: emergency submission ------------------------------------------------------------


def test_totp_session_is_refused_an_emergency_submission_with_guidance(client, officer):
    verified_login(client, officer)
    form = client.get(reverse("requests:create", args=[Instrument.EMERGENCY_DISCLOSURE]))
    assert "Emergency requests need a passkey: add one in your account." in form.content.decode()

    response = submit(client, Instrument.EMERGENCY_DISCLOSURE)
    assert response.status_code == 403
    page = response.content.decode()
    assert "Emergency requests need a passkey" in page
    assert reverse("authorities:passkeys") in page
    assert not LegalRequest.objects.exclude(status=Status.DRAFT).exists()
    assert LegalRequest.objects.get().status == Status.DRAFT  # nothing typed is lost


def test_totp_session_is_refused_an_epoc_marked_emergency(client, officer):
    verified_login(client, officer)
    data = {**VALID[Instrument.EPOC], "is_emergency": "on", "emergency_justification": "Now."}
    assert submit(client, Instrument.EPOC, data).status_code == 403
    assert not LegalRequest.objects.exclude(status=Status.DRAFT).exists()
    # The same request without the emergency goes through with the code session.
    assert submit(client, Instrument.EPOC).status_code == 302
    assert LegalRequest.objects.exclude(status=Status.DRAFT).count() == 1


def test_passkey_session_submits_an_emergency_request(client, officer):
    passkey_login(client, officer)
    form = client.get(reverse("requests:create", args=[Instrument.EMERGENCY_DISCLOSURE]))
    assert 'id="passkey-note"' not in form.content.decode()
    assert submit(client, Instrument.EMERGENCY_DISCLOSURE).status_code == 302
    legal_request = LegalRequest.objects.get()
    assert legal_request.status == Status.SUBMITTED and legal_request.is_emergency
    assert legal_request.submitted_device == officer.webauthncredential_set.get().persistent_id


def test_service_refuses_an_emergency_verified_by_a_code(client, officer):
    verified_login(client, officer)
    submit(client, Instrument.EMERGENCY_DISCLOSURE, action="draft")
    draft = LegalRequest.objects.get()
    totp_id = officer.totpdevice_set.get().persistent_id
    with pytest.raises(second_factor().PasskeyRequired):
        services.legal_request_submit(officer=officer, legal_request=draft, device_id=totp_id)
    with pytest.raises(second_factor().PasskeyRequired):
        services.legal_request_submit(officer=officer, legal_request=draft)
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT


def test_a_code_session_confirmed_with_the_passkey_may_submit_the_emergency(client, officer):
    passkey = SoftPasskey()
    credential = passkey.stored_for(officer)
    verified_login(client, officer)
    assert submit(client, Instrument.EMERGENCY_DISCLOSURE).status_code == 403
    draft = LegalRequest.objects.get()
    page = client.get(reverse("requests:edit", args=[draft.public_id])).content.decode()
    assert "confirm this session with it" in page
    # The refusal page's "Use my passkey" button: the same ceremony, from a verified session.
    assert passkey_step(client, passkey).status_code == 200
    assert session_device(client) == credential.persistent_id
    response = client.post(
        reverse("requests:edit", args=[draft.public_id]),
        {**VALID[Instrument.EMERGENCY_DISCLOSURE], "action": "submit"},
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == Status.SUBMITTED


# --- The policy: the lead's emergency approval ---------------------------------------------------


@pytest.fixture
def emergency_called_back(client, officer, reviewer):
    # The officer's side is not under test here: submitted from a code session, policy off.
    verified_login(client, officer)
    with override_settings(PORTAL_PHISHING_RESISTANT_FOR=frozenset()):
        assert submit(client, Instrument.EMERGENCY_DISCLOSURE).status_code == 302
    legal_request = LegalRequest.objects.get()
    review_services.callback_record(
        reviewer=reviewer, legal_request=legal_request, outcome="confirmed", notes="Duty desk"
    )
    client.logout()
    return legal_request


def test_totp_session_is_refused_the_emergency_approval(client, emergency_called_back, lead):
    legal_request = emergency_called_back
    verified_login(client, lead)
    detail = client.get(reverse("review:detail", args=[legal_request.public_id])).content.decode()
    assert 'id="approval-passkey-note"' in detail
    response = client.post(
        reverse("review:action", args=[legal_request.public_id, "approve"]),
        {"otp_token": totp_code(lead)},
    )
    assert response.status_code == 403
    assert "Approving an emergency disclosure needs a passkey" in response.content.decode()
    assert not legal_request.approvals.exists()


def test_passkey_session_approves_the_emergency(client, emergency_called_back, lead):
    legal_request = emergency_called_back
    passkey_login(client, lead)
    detail = client.get(reverse("review:detail", args=[legal_request.public_id])).content.decode()
    assert 'id="approval-passkey-note"' not in detail
    client.post(
        reverse("review:action", args=[legal_request.public_id, "approve"]),
        {"otp_token": totp_code(lead)},
    )
    assert legal_request.approvals.filter(approved_by=lead).exists()


def test_service_refuses_an_approval_verified_by_a_code(emergency_called_back, lead):
    # The rule lives in the service too: a page or an API that forgot to check still cannot
    # approve from a code-verified session.
    legal_request = emergency_called_back
    totp_id = lead.totpdevice_set.get().persistent_id
    with pytest.raises(second_factor().PasskeyRequired):
        review_services.disclosure_approve(
            lead=lead, legal_request=legal_request, device_id=totp_id
        )
    with pytest.raises(second_factor().PasskeyRequired):
        review_services.disclosure_approve(lead=lead, legal_request=legal_request)
    assert not legal_request.approvals.exists()
    credential = SoftPasskey().stored_for(lead)
    review_services.disclosure_approve(
        lead=lead, legal_request=legal_request, device_id=credential.persistent_id
    )
    assert legal_request.approvals.filter(approved_by=lead).exists()


# --- The policy: the admin -----------------------------------------------------------------------


def test_totp_session_is_refused_the_admin_with_guidance(client, staff):
    verified_login(client, staff)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "Staff administration needs a passkey" in page
    assert reverse("authorities:passkeys") in page  # no passkey yet: add one
    response = client.get(reverse("admin:authorities_authority_changelist"))
    assert response.status_code == 403


def test_passkey_session_works_in_the_admin(client, staff):
    passkey_login(client, staff)
    assert client.get(reverse("admin:index")).status_code == 200


def test_staff_with_a_passkey_and_a_code_session_is_offered_the_passkey(client, staff):
    SoftPasskey().stored_for(staff)
    verified_login(client, staff)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Use my passkey" in page and 'data-passkey="authenticate"' in page


# --- The setting ---------------------------------------------------------------------------------


def test_an_empty_setting_lets_code_sessions_do_everything(client, staff, settings):
    settings.PORTAL_PHISHING_RESISTANT_FOR = frozenset()
    verified_login(client, staff)
    assert client.get(reverse("admin:index")).status_code == 200


def test_each_action_can_be_left_out_of_the_setting(client, officer, settings):
    settings.PORTAL_PHISHING_RESISTANT_FOR = frozenset({"admin", "emergency_approval"})
    verified_login(client, officer)
    assert submit(client, Instrument.EMERGENCY_DISCLOSURE).status_code == 302


@pytest.mark.slow
def test_unknown_action_names_are_a_configuration_error():
    with pytest.raises(ImproperlyConfigured):
        second_factor().requires_phishing_resistant("emergency_submitt")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_PHISHING_RESISTANT_FOR": "emergency_submit,admn",
    }
    result = python_in_portal("import django; django.setup()", env=env)
    assert result.returncode != 0
    assert "PORTAL_PHISHING_RESISTANT_FOR names unknown actions: admn" in result.stderr


def test_the_default_covers_the_three_actions(settings):
    assert {
        "emergency_submit",
        "emergency_approval",
        "admin",
    } == settings.PORTAL_PHISHING_RESISTANT_FOR


@pytest.mark.slow
def test_a_relying_party_id_outside_the_portals_address_is_a_configuration_error():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_BASE_URL": "https://portal.example.eu",
        "PORTAL_WEBAUTHN_RP_ID": "evil.example",
    }
    result = python_in_portal("import django; django.setup()", env=env)
    assert result.returncode != 0
    assert "PORTAL_WEBAUTHN_RP_ID (evil.example) must be the host of PORTAL_BASE_URL" in (
        result.stderr
    )


def test_the_passkey_pages_send_the_security_headers_and_no_inline_script(client, staff):
    from tests.security.test_headers_and_csrf import check_headers

    SoftPasskey().stored_for(staff)
    verified_login(client, staff)
    pages = {
        "passkey required": client.get(reverse("admin:index"), secure=True),
        "passkeys": client.get(reverse("authorities:passkeys"), secure=True),
    }
    assert pages["passkey required"].status_code == 403
    assert {name: check_headers(response) for name, response in pages.items()} == {
        "passkey required": [],
        "passkeys": [],
    }
    assert b"js/passkeys" in pages["passkey required"].content
