"""Sign-up -> e-mail link -> approval -> TOTP enrolment -> login, through the real pages, and every
refusal on the way."""

import re

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from authorities import accounts
from authorities.accounts import email_verification_token
from authorities.constants import AuthorityStatus
from authorities.models import AccountEvent, User
from tests.conftest import current_code, passkey_login, verified_login
from tests.factories import PASSWORD, AuthorityFactory, OfficerFactory

pytestmark = pytest.mark.django_db

OUTSIDE = "Requests from outside EU competent authorities are not processed here"


def sign_up(client, email, name="Marie Durand"):
    return client.post(reverse("authorities:signup"), {"email": email, "full_name": name})


def complete(client, link, password=PASSWORD, name="Marie Durand", again=None):
    """Submit the page the link opens: the name and the password chosen there."""
    return client.post(
        link,
        {
            "full_name": name,
            "new_password1": password,
            "new_password2": password if again is None else again,
        },
    )


def link_from(message) -> str:
    return re.search(r"https?://\S+", message.body).group(0).replace("http://localhost:8000", "")


def password_step(client, email, password=PASSWORD):
    return client.post(reverse("authorities:login"), {"username": email, "password": password})


# --- Sign-up ----------------------------------------------------------------------------------


def test_signup_with_an_official_email_creates_an_unverified_officer_and_sends_a_link(
    client, authority
):
    response = sign_up(client, "Marie.Durand@INTERIEUR.gouv.fr")
    assert response.status_code == 200
    assert "Check your e-mail" in response.content.decode()
    user = User.objects.get()
    assert user.email == "marie.durand@interieur.gouv.fr"
    assert user.authority == authority
    assert user.email_verified_at is None and user.approved_at is None
    assert not user.has_usable_password()  # chosen on the link's page
    assert len(mail.outbox) == 1
    assert "/signup/verify/" in mail.outbox[0].body
    assert mail.outbox[0].to == ["marie.durand@interieur.gouv.fr"]


def test_a_new_account_starts_in_its_member_states_time_zone(client, authority, staff):
    sign_up(client, "marie@interieur.gouv.fr")
    assert User.objects.get(email="marie@interieur.gouv.fr").time_zone == "Europe/Paris"
    AuthorityFactory(id="CY-POL", country="CY", domains=["police.gov.cy"])
    sign_up(client, "andreas@police.gov.cy")
    assert User.objects.get(email="andreas@police.gov.cy").time_zone == "Europe/Nicosia"
    # An account staff create in the admin: the same, unless staff chose a zone.
    created = User.objects.create_user(
        email="paul@interieur.gouv.fr", password=None, authority=authority
    )
    accounts.staff_account_created(user=created, staff=staff)
    created.refresh_from_db()
    assert created.time_zone == "Europe/Paris"


def test_staff_are_told_when_a_verified_sign_up_waits_for_approval(client, authority, staff):
    retired = User.objects.create_user(
        email="old@platform.example", password=None, is_staff=True, is_active=False
    )
    sign_up(client, "marie@interieur.gouv.fr")
    assert [m.to for m in mail.outbox] == [["marie@interieur.gouv.fr"]]  # not before the link
    complete(client, link_from(mail.outbox[0]))
    officer = User.objects.get(email="marie@interieur.gouv.fr")
    waiting = [m for m in mail.outbox if "waits for approval" in m.subject]
    assert [m.to for m in waiting] == [[staff.email]]  # active staff only, not retired
    assert retired.email not in {a for m in mail.outbox for a in m.to}
    assert "Marie Durand" in waiting[0].subject
    assert "marie@interieur.gouv.fr" in waiting[0].body
    change = reverse("admin:authorities_user_change", args=[officer.pk])
    assert change in waiting[0].body


@pytest.mark.parametrize(
    "email",
    [
        "someone@gmail.com",
        "agent@interieur.gouv.fr.example.com",
        "agent@interieur-gouv.fr",
        "agent@xinterieur.gouv.fr",
        "agent@interieur.gouv.fr.",
        "agent@\u0456nterieur.gouv.fr",  # Cyrillic i
        "agent@police.ch",
    ],
)
def test_signup_outside_the_registry_is_refused_and_creates_nothing(client, authority, email):
    response = sign_up(client, email)
    assert response.status_code == 200
    body = response.content.decode()
    assert OUTSIDE in body or "Enter a valid email address" in body
    # What the officer typed is kept.
    assert 'value="Marie Durand"' in body
    assert User.objects.count() == 0
    assert mail.outbox == []


@pytest.mark.parametrize("length", [255, 256, 320])
def test_an_address_longer_than_the_column_is_refused_at_signup_and_login(
    client, authority, length
):
    """Forms took up to 320 characters, the column 254: the fuzzer found the 500 behind it."""
    email = "a" * (length - len("@interieur.gouv.fr")) + "@interieur.gouv.fr"

    signup = sign_up(client, email)
    login = password_step(client, email)

    assert signup.status_code == 200 and "email" in signup.context["form"].errors
    assert login.status_code == 200 and "username" in login.context["form"].errors
    assert User.objects.count() == 0


def test_signup_for_a_suspended_authority_is_refused(client):
    AuthorityFactory(
        id="AT-DSN", country="AT", domains=["dsn.gv.at"], status=AuthorityStatus.SUSPENDED
    )
    response = sign_up(client, "agent@dsn.gv.at")
    assert OUTSIDE in response.content.decode()
    assert User.objects.count() == 0


def test_signup_with_an_existing_address_looks_the_same_and_creates_nothing(client, officer):
    fresh = sign_up(client, "new.person@interieur.gouv.fr")
    again = sign_up(client, officer.email)
    assert again.status_code == fresh.status_code == 200

    # Same page for both, apart from the address echoed back (and the CSRF token of the header's
    # language picker, masked afresh on every page).
    def page(response, email):
        html = response.content.decode().replace(email, "X")
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)

    assert page(again, officer.email) == page(fresh, "new.person@interieur.gouv.fr")
    assert User.objects.filter(email=officer.email).count() == 1
    # The owner of the existing account is told, by e-mail only.
    assert "which already has an" in mail.outbox[-1].body


def test_link_page_rejects_weak_and_mismatched_passwords_next_to_the_field(client, authority):
    sign_up(client, "a@interieur.gouv.fr")
    link = link_from(mail.outbox[0])
    response = complete(client, link, password="short")
    assert "at least 12 characters" in response.content.decode()
    response = complete(client, link, again=PASSWORD + "x")
    assert "The two passwords differ" in response.content.decode()
    user = User.objects.get()
    assert user.email_verified_at is None and not user.has_usable_password()


# --- E-mail link ------------------------------------------------------------------------------


def test_email_link_is_confirmed_by_post_and_works_only_once(client, authority):
    sign_up(client, "marie@interieur.gouv.fr")
    link = link_from(mail.outbox[0])
    # GET (a mail scanner prefetching the link) verifies nothing.
    assert "Confirm my address" in client.get(link).content.decode()
    assert User.objects.get().email_verified_at is None
    response = complete(client, link)
    assert "Address confirmed" in response.content.decode()
    user = User.objects.get()
    assert user.email_verified_at is not None and user.check_password(PASSWORD)
    second = complete(client, link, password="another-password-of-mine-7")
    assert "already been used" in second.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_expired_email_link_is_refused(client, authority):
    with time_machine.travel("2026-11-01 09:00Z", tick=False):
        sign_up(client, "marie@interieur.gouv.fr")
    link = link_from(mail.outbox[0])
    with time_machine.travel("2026-11-02 09:01Z", tick=False):
        response = complete(client, link)
    assert "expired" in response.content.decode()
    assert User.objects.get().email_verified_at is None


def test_tampered_email_link_is_refused(client, authority):
    sign_up(client, "marie@interieur.gouv.fr")
    user = User.objects.get()
    token = email_verification_token(user)
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    response = complete(client, reverse("authorities:verify_email", args=[forged]))
    assert "not valid" in response.content.decode()
    assert User.objects.get().email_verified_at is None


def test_unverified_officer_cannot_log_in(client, authority):
    sign_up(client, "marie@interieur.gouv.fr")
    response = password_step(client, "marie@interieur.gouv.fr")
    assert "E-mail address or password is wrong" in response.content.decode()
    assert "_auth_user_id" not in client.session


# --- The whole journey through the pages ------------------------------------------------------


def test_walkthrough_signup_link_approval_enrolment_login(client, authority, staff):
    # 1. Sign up and confirm the address.
    sign_up(client, "marie@interieur.gouv.fr")
    complete(client, link_from(mail.outbox[0]))
    officer = User.objects.get(email="marie@interieur.gouv.fr")

    # 2. First login: password, then enrolment of TOTP (QR code and manual key shown).
    response = password_step(client, officer.email)
    assert response.status_code == 302
    assert response.url.startswith(reverse("authorities:enrol"))
    page = client.get(reverse("authorities:enrol")).content.decode()
    assert "data:image/svg+xml;base64," in page
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1)
    device = TOTPDevice.objects.get(user=officer, confirmed=False)
    assert secret.replace(" ", "") in __import__("base64").b32encode(device.bin_key).decode()
    response = client.post(reverse("authorities:enrol"), {"token": current_code(device)})
    codes = re.findall(r"<li>([0-9a-f]{5}-[0-9a-f]{5})</li>", response.content.decode())
    assert len(codes) == 10
    assert client.get(reverse("home")).status_code == 200

    # 3. Logged in but not approved: the home page says so.
    assert "Awaiting approval" in client.get(reverse("home")).content.decode()
    client.post(reverse("authorities:logout"))

    # 4. Staff approve from the admin, seeing the registry evidence.
    staff_client = passkey_login(client.__class__(), staff)  # the admin needs a passkey
    change = staff_client.get(reverse("admin:authorities_user_change", args=[officer.pk]))
    assert "matches this authority in the registry" in change.content.decode()
    staff_client.post(
        reverse("admin:authorities_user_changelist"),
        {"action": "approve_officers", "_selected_action": [officer.pk]},
    )
    officer.refresh_from_db()
    assert officer.approved_at is not None and officer.approved_by == staff
    assert "approved" in mail.outbox[-1].subject

    # 5. Login with password and a TOTP code.
    response = password_step(client, officer.email)
    assert response.url.startswith(reverse("authorities:otp"))
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=31), tick=False):
        device.refresh_from_db()
        response = client.post(reverse("authorities:otp"), {"token": current_code(device)})
        assert response.status_code == 302
        home = client.get(reverse("home")).content.decode()
    assert "Approved" in home
    kinds = set(AccountEvent.objects.filter(user=officer).values_list("kind", flat=True))
    assert {"signed_up", "email_verified", "otp_enrolled", "approved", "login"} <= kinds


# --- Second factor ----------------------------------------------------------------------------


def test_password_alone_reaches_no_page_but_the_second_factor_step(client, officer):
    password_step(client, officer.email)
    for url in [reverse("home"), reverse("admin:index"), reverse("authorities:officers")]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("authorities:otp"))


def test_anonymous_is_sent_to_login_from_every_protected_page(client, db):
    for url in [reverse("home"), reverse("admin:index"), "/admin/authorities/authority/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("authorities:login"))


def test_admin_needs_a_verified_second_factor_even_for_superusers(client, staff):
    password_step(client, staff.email)
    assert client.get(reverse("admin:index")).url.startswith(reverse("authorities:otp"))


def test_wrong_totp_code_is_refused(client, officer):
    password_step(client, officer.email)
    response = client.post(reverse("authorities:otp"), {"token": "000000"})
    assert "That code is not right" in response.content.decode()
    assert client.get(reverse("home")).status_code == 302


def test_wrong_codes_are_throttled_even_when_the_right_one_follows(client, officer, settings):
    settings.PORTAL_OTP_FAILURES_PER_HOUR = 2
    password_step(client, officer.email)
    device = officer.totpdevice_set.get()
    client.post(reverse("authorities:otp"), {"token": "000000"})
    client.post(reverse("authorities:otp"), {"token": "000001"})
    # The throttle (second_factor.otp_check): past the cap, even a correct code is not checked.
    response = client.post(reverse("authorities:otp"), {"token": current_code(device)})
    assert "Too many wrong codes" in response.content.decode()
    assert "Try again in 60 minutes" in response.content.decode()
    assert client.get(reverse("home")).status_code == 302


def test_backup_code_works_once(client, authority):
    officer = OfficerFactory(authority=authority, email="b@interieur.gouv.fr")
    password_step(client, officer.email)
    client.get(reverse("authorities:enrol"))
    device = TOTPDevice.objects.get(user=officer)
    response = client.post(reverse("authorities:enrol"), {"token": current_code(device)})
    code = re.findall(r"<li>([0-9a-f]{5}-[0-9a-f]{5})</li>", response.content.decode())[0]
    client.post(reverse("authorities:logout"))

    password_step(client, officer.email)
    assert client.post(reverse("authorities:otp"), {"token": code}).status_code == 302
    assert client.get(reverse("home")).status_code == 200
    client.post(reverse("authorities:logout"))

    password_step(client, officer.email)
    response = client.post(reverse("authorities:otp"), {"token": code})
    assert response.status_code == 200
    assert client.get(reverse("home")).status_code == 302


def test_backup_codes_are_stored_hashed(client, authority):
    officer = OfficerFactory(authority=authority, email="h@interieur.gouv.fr")
    password_step(client, officer.email)
    client.get(reverse("authorities:enrol"))
    device = TOTPDevice.objects.get(user=officer)
    response = client.post(reverse("authorities:enrol"), {"token": current_code(device)})
    codes = re.findall(r"<li>([0-9a-f]{5}-[0-9a-f]{5})</li>", response.content.decode())
    stored = officer.backupcodedevice_set.get().codes.values_list("code_hash", flat=True)
    assert len(stored) == 10
    for code in codes:
        assert all(code.replace("-", "") not in value for value in stored)


def test_second_factor_cannot_be_re_enrolled_from_a_session(client, officer):
    password_step(client, officer.email)
    response = client.get(reverse("authorities:enrol"))
    assert response.url.startswith(reverse("authorities:otp"))
    assert TOTPDevice.objects.filter(user=officer).count() == 1


def test_staff_reset_of_a_second_factor_is_recorded_and_forces_enrolment(client, officer, staff):
    # The admin needs a passkey session; the reset, a confirmed call-back (tests/authorities/
    # test_staff_powers.py has the rest: awaiting approval by another staff member).
    staff_client = passkey_login(client.__class__(), staff)
    page = staff_client.post(
        reverse("admin:authorities_user_changelist"),
        {"action": "reset_second_factor", "_selected_action": [officer.pk]},
    )
    staff_client.post(page.url, {"outcome": "confirmed", "note": "Reached the duty desk."})
    assert not TOTPDevice.objects.filter(user=officer).exists()
    event = AccountEvent.objects.get(user=officer, kind="otp_reset")
    assert event.actor == staff
    assert "reset" in mail.outbox[-1].subject
    response = password_step(client, officer.email)
    assert response.url.startswith(reverse("authorities:enrol"))


# --- Password throttling ----------------------------------------------------------------------


def test_password_failures_lock_the_account_out(client, officer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = password_step(client, officer.email, password="wrong-password-123")
        assert "E-mail address or password is wrong" in response.content.decode()
    response = password_step(client, officer.email, password="wrong-password-123")
    assert response.status_code == 429
    response = password_step(client, officer.email)  # right password, but locked
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


# --- Sessions ---------------------------------------------------------------------------------


def test_session_key_rotates_after_password_and_after_second_factor(client, officer):
    client.get(reverse("authorities:login"))
    client.cookies["sessionid"] = "anonymous-session-fixation-attempt"
    password_step(client, officer.email)
    after_password = client.cookies["sessionid"].value
    assert after_password != "anonymous-session-fixation-attempt"
    client.post(reverse("authorities:otp"), {"token": current_code(officer.totpdevice_set.get())})
    assert client.cookies["sessionid"].value != after_password


def test_idle_session_ends_server_side(client, officer, settings):
    with time_machine.travel("2026-11-27 09:00Z", tick=False):
        verified_login(client, officer)
        assert client.get(reverse("home")).status_code == 200
    with time_machine.travel("2026-11-27 09:31Z", tick=False):
        response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("authorities:login"))
    assert "_auth_user_id" not in client.session


def test_absolute_session_limit_applies_even_when_active(client, officer, settings):
    start = "2026-11-27 09:00Z"
    statuses = []
    with time_machine.travel(start, tick=False) as traveller:
        verified_login(client, officer)
        for _ in range(17):  # a request every 29 minutes, never idle, until 8h13 after login
            traveller.shift(29 * 60)
            statuses.append(client.get(reverse("home")).status_code)
    assert statuses[:16] == [200] * 16  # up to 7h44
    assert statuses[16] == 302
    assert "_auth_user_id" not in client.session


def test_logout_ends_the_session_server_side(client, officer):
    verified_login(client, officer)
    cookie = client.cookies["sessionid"].value
    client.post(reverse("authorities:logout"))
    replay = client.__class__()
    replay.cookies["sessionid"] = cookie
    response = replay.get(reverse("home"))
    assert response.status_code == 302


def test_logout_needs_post(client, officer):
    verified_login(client, officer)
    assert client.get(reverse("authorities:logout")).status_code == 405
    assert client.get(reverse("home")).status_code == 200


# --- Live registry re-check -------------------------------------------------------------------


def test_suspended_authority_blocks_logged_in_officer(client, officer, authority):
    verified_login(client, officer)
    assert client.get(reverse("home")).status_code == 200
    authority.status = AuthorityStatus.SUSPENDED
    authority.save()
    response = client.get(reverse("home"))
    assert response.status_code == 403
    assert "suspended" in response.content.decode()
    assert User.objects.filter(pk=officer.pk).exists()
    assert client.get(reverse("home")).status_code == 302  # logged out


def test_removed_domain_blocks_logged_in_officer(client, officer, authority):
    verified_login(client, officer)
    authority.domains.all().delete()
    authority.domains.create(domain="interieur.fr")
    response = client.get(reverse("home"))
    assert response.status_code == 403
    assert "no longer an official domain" in response.content.decode()


def test_blocked_officer_cannot_log_in_again(client, officer, authority):
    authority.status = AuthorityStatus.REVOKED
    authority.save()
    response = password_step(client, officer.email)
    assert "revoked" in response.content.decode()
    assert "_auth_user_id" not in client.session


# --- Approval rules ---------------------------------------------------------------------------


def test_authority_contact_approves_only_their_own_authority(client, authority, outsider):
    contact = OfficerFactory(
        authority=authority, email="chef@interieur.gouv.fr", is_authority_contact=True
    )
    __import__("tests.factories", fromlist=["totp_device"]).totp_device(contact)
    pending = OfficerFactory(authority=authority, email="new@interieur.gouv.fr", approved_at=None)
    outsider.approved_at = None
    outsider.save()
    verified_login(client, contact)
    page = client.get(reverse("authorities:officers")).content.decode()
    assert pending.email in page and outsider.email not in page
    client.post(reverse("authorities:officers"), {"officer": pending.pk, "action": "approve"})
    pending.refresh_from_db()
    assert pending.approved_by == contact
    response = client.post(
        reverse("authorities:officers"), {"officer": outsider.pk, "action": "approve"}
    )
    assert response.status_code == 404
    outsider.refresh_from_db()
    assert outsider.approved_at is None


def test_officer_without_contact_role_gets_404_on_officers_page(client, officer):
    verified_login(client, officer)
    assert client.get(reverse("authorities:officers")).status_code == 404


# --- Password reset ---------------------------------------------------------------------------


def test_password_reset_needs_the_second_factor_too(client, officer):
    client.post(reverse("authorities:password_reset"), {"email": officer.email})
    link = link_from(mail.outbox[-1])
    form_page = client.get(link, follow=True)
    set_url = form_page.redirect_chain[-1][0]
    new = "a-brand-new-password-42"
    response = client.post(
        set_url, {"new_password1": new, "new_password2": new, "otp_token": "000000"}
    )
    assert "That code is not right" in response.content.decode()
    officer.refresh_from_db()
    assert officer.check_password(PASSWORD)

    device = officer.totpdevice_set.get()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=61), tick=False):
        device.throttling_failure_count = 0
        device.save()
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        response = client.post(
            set_url,
            {"new_password1": new, "new_password2": new, "otp_token": f"{totp.token():06d}"},
        )
    assert response.status_code == 302
    officer.refresh_from_db()
    assert officer.check_password(new)
    assert AccountEvent.objects.filter(user=officer, kind="password_reset").exists()
