"""What platform staff can do to an account, through the real admin pages (issue 13, findings 4
and 5): a second-factor reset needs a confirmed call-back on the registry number and puts an
officer back to awaiting approval by another staff member; no staff path sets or sees a
password; every staff action is a hash-chained AccountEvent e-mailed to the owner."""

from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from authorities.models import AccountEvent, KnownDevice, User
from portal.audit_chain import GENESIS_HASH
from requests_app.models import LegalRequest, Status
from tests.authorities.test_onboarding import link_from, password_step
from tests.conftest import CommittingClient, current_code, passkey_login, verified_login
from tests.factories import PASSWORD, OfficerFactory, UserFactory, totp_device
from tests.requests_app.helpers import submit

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:authorities_user_changelist"
# The read-only inlines of the user page (identity checks, account events) post no rows.
NO_INLINE_ROWS = {
    f"{prefix}-{key}": "0"
    for prefix in ("identity_checks", "account_events")
    for key in ("TOTAL_FORMS", "INITIAL_FORMS")
}


@pytest.fixture
def other_staff(db):
    user = UserFactory(email="second.admin@platform.example", is_staff=True, is_superuser=True)
    totp_device(user)
    return user


def as_staff(user):
    return passkey_login(CommittingClient(), user)  # the admin needs a passkey session


def reset_in_admin(staff_client, user, outcome="confirmed", note="Reached the duty desk."):
    """What the admin offers for a lost phone: the user list's action "Reset second factor",
    then the page it opens (the call-back record)."""
    response = staff_client.post(
        reverse(CHANGELIST), {"action": "reset_second_factor", "_selected_action": [user.pk]}
    )
    assert response.status_code == 302
    return staff_client.post(response.url, {"outcome": outcome, "note": note})


def approve_in_admin(staff_client, user):
    return staff_client.post(
        reverse(CHANGELIST), {"action": "approve_officers", "_selected_action": [user.pk]}
    )


def account_events_intact() -> bool:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return "account events intact" in out.getvalue()


def submitted_request(officer) -> LegalRequest:
    client = verified_login(CommittingClient(), officer)
    submit(client, "epoc")
    return LegalRequest.objects.exclude(status=Status.DRAFT).get(officer=officer)


MAILBOX_PASSWORD = "mailbox-holder-chose-this-9"  # noqa: S105 (a test value)


def take_over_with_the_mailbox(client, officer, new_password=MAILBOX_PASSWORD):
    """The attack: whoever reads the officer's mail resets the password, logs in and enrols."""
    client.post(reverse("authorities:password_reset"), {"email": officer.email})
    form_page = client.get(link_from(mail.outbox[-1]), follow=True)
    set_url = form_page.redirect_chain[-1][0]
    client.post(set_url, {"new_password1": new_password, "new_password2": new_password})
    response = password_step(client, officer.email, password=new_password)
    assert response.url.startswith(reverse("authorities:enrol")), "the takeover did not log in"
    client.get(reverse("authorities:enrol"))
    device = TOTPDevice.objects.get(user=officer, confirmed=False)
    client.post(reverse("authorities:enrol"), {"token": current_code(device)})
    return client


# --- Finding 4: a second-factor reset needs a call-back and a second staff member ------------


def test_staff_reset_without_a_confirmed_call_back_is_refused(officer, staff):
    staff_client = as_staff(staff)
    response = reset_in_admin(staff_client, officer, outcome="not_reached", note="No answer.")
    assert TOTPDevice.objects.filter(user=officer, confirmed=True).exists()
    assert response.status_code == 302
    officer.refresh_from_db()
    assert officer.is_approved
    check = officer.identity_checks.get()
    assert (check.checked_by, check.outcome) == (staff, "not_reached")
    assert check.phone_called == officer.authority.callback_phone
    assert AccountEvent.objects.filter(user=officer, kind="otp_reset").count() == 0
    assert AccountEvent.objects.get(user=officer, kind="identity_check").actor == staff
    assert mail.outbox[-1].to == [officer.email]
    assert "refused" in mail.outbox[-1].subject


def test_reset_page_shows_the_registry_call_back_number_and_takes_none_typed_in(
    officer, staff, authority
):
    staff_client = as_staff(staff)
    url = reverse("admin:authorities_user_reset_second_factor", args=[officer.pk])
    page = staff_client.get(url).content.decode()
    assert authority.callback_phone in page
    staff_client.post(url, {"outcome": "confirmed", "note": "ok", "phone": "+99 0000 typed"})
    assert officer.identity_checks.get().phone_called == authority.callback_phone


def test_confirmed_call_back_resets_and_puts_the_officer_back_to_awaiting_approval(
    officer, staff, authority
):
    staff_client = as_staff(staff)
    reset_in_admin(staff_client, officer)
    assert not TOTPDevice.objects.filter(user=officer).exists()
    officer.refresh_from_db()
    assert officer.approved_at is None
    assert officer.second_factor_reset_by == staff
    check = officer.identity_checks.get()
    assert (check.checked_by, check.outcome, check.phone_called) == (
        staff,
        "confirmed",
        authority.callback_phone,
    )
    assert check.checked_at is not None and check.note == "Reached the duty desk."
    event = AccountEvent.objects.get(user=officer, kind="otp_reset")
    assert event.actor == staff and f"identity check {check.pk}" in event.detail
    previous = AccountEvent.objects.filter(id__lt=event.pk).order_by("-id").first()
    assert event.prev_hash == (previous.row_hash if previous else GENESIS_HASH)
    assert account_events_intact()
    assert mail.outbox[-1].to == [officer.email]
    assert "reset" in mail.outbox[-1].subject


def test_mailbox_holder_after_a_staff_reset_sees_none_of_the_officers_requests(
    client, officer, staff
):
    legal_request = submitted_request(officer)
    KnownDevice.objects.create(
        user=officer, key_hash="0" * 64, user_agent="OfficerDesk/1.0", ip_address="198.51.100.7"
    )
    reset_in_admin(as_staff(staff), officer)
    take_over_with_the_mailbox(client, officer)
    detail = client.get(reverse("requests:detail", args=[legal_request.public_id]))
    assert detail.status_code == 404
    listing = client.get(reverse("requests:list"))
    assert legal_request.reference not in listing.content.decode()
    account = client.get(reverse("authorities:account")).content.decode()
    assert "OfficerDesk" not in account and "198.51.100.7" not in account


def test_approval_after_a_reset_needs_re_enrolment_and_another_staff_member(
    client, officer, staff, other_staff, authority
):
    legal_request = submitted_request(officer)
    reset_in_admin(as_staff(staff), officer)
    approve_in_admin(as_staff(other_staff), officer)
    officer.refresh_from_db()
    assert officer.approved_at is None  # no new second factor yet

    take_over_with_the_mailbox(client, officer)  # here: the real officer, enrolling again
    approve_in_admin(as_staff(staff), officer)
    officer.refresh_from_db()
    assert officer.approved_at is None  # the staff member who reset it

    contact = OfficerFactory(
        authority=authority, email="chef@interieur.gouv.fr", is_authority_contact=True
    )
    totp_device(contact)
    contact_client = verified_login(CommittingClient(), contact)
    contact_client.post(
        reverse("authorities:officers"), {"officer": officer.pk, "action": "approve"}
    )
    officer.refresh_from_db()
    assert officer.approved_at is None  # nor an authority contact

    approve_in_admin(as_staff(other_staff), officer)
    officer.refresh_from_db()
    assert officer.approved_by == other_staff and officer.second_factor_reset_by is None
    assert client.get(reverse("requests:detail", args=[legal_request.public_id])).status_code == 200


def test_a_lead_reset_by_staff_has_no_legal_team_role_until_another_staff_member_reinstates(
    client, lead, officer, staff, other_staff
):
    """Platform accounts have no approval, so the reset itself withholds their roles: a lead's
    mailbox alone must not give the review queue or the emergency approval."""
    legal_request = submitted_request(officer)
    reset_in_admin(as_staff(staff), lead)
    take_over_with_the_mailbox(client, lead)
    detail = reverse("review:detail", args=[legal_request.public_id])
    assert client.get(reverse("review:queue")).status_code == 404
    assert client.get(detail).status_code == 404

    reinstate = {"action": "reinstate_platform_accounts", "_selected_action": [lead.pk]}
    as_staff(staff).post(reverse(CHANGELIST), reinstate)  # not the one who reset it
    assert client.get(reverse("review:queue")).status_code == 404

    as_staff(other_staff).post(reverse(CHANGELIST), reinstate)
    lead.refresh_from_db()
    assert not lead.awaits_reinstatement
    assert client.get(detail).status_code == 200
    event = AccountEvent.objects.filter(user=lead, kind=AccountEvent.Kind.APPROVED).get()
    assert event.actor == other_staff
    assert "reinstated" in mail.outbox[-1].subject and mail.outbox[-1].to == [lead.email]


def test_staff_reset_by_staff_keeps_them_out_of_the_admin_until_reinstated(
    client, staff, other_staff
):
    reset_in_admin(as_staff(other_staff), staff)
    take_over_with_the_mailbox(client, staff)
    staff.refresh_from_db()  # the mailbox holder's password: the session hash must match
    passkey_login(client, staff)  # even with a passkey enrolled after the reset
    assert client.get(reverse("home")).status_code == 200
    assert client.get(reverse("admin:index")).status_code == 404


def test_unapproved_officer_sees_none_of_their_requests(client, officer, authority):
    legal_request = submitted_request(officer)
    officer.approved_at = None
    officer.save()
    verified_login(client, officer)
    assert client.get(reverse("requests:detail", args=[legal_request.public_id])).status_code == 404
    assert legal_request.reference not in client.get(reverse("requests:list")).content.decode()


def test_staff_cannot_reset_their_own_second_factor(staff):
    staff_client = as_staff(staff)
    reset_in_admin(staff_client, staff)
    assert TOTPDevice.objects.filter(user=staff).exists()


# --- Finding 5: no staff path sets or sees a password; every staff action is recorded -------


def test_admin_has_no_password_page(officer, staff):
    staff_client = as_staff(staff)
    url = f"/admin/authorities/user/{officer.pk}/password/"
    assert staff_client.get(url).status_code == 404
    new = "staff-chose-this-password-1"
    response = staff_client.post(url, {"password1": new, "password2": new})
    assert response.status_code == 404
    officer.refresh_from_db()
    assert officer.check_password(PASSWORD) and not officer.check_password(new)


def test_admin_user_pages_have_no_password_field(officer, staff):
    staff_client = as_staff(staff)
    change = staff_client.get(reverse("admin:authorities_user_change", args=[officer.pk]))
    add = staff_client.get(reverse("admin:authorities_user_add"))
    for page in (change.content.decode(), add.content.decode()):
        assert 'type="password"' not in page
        assert "password/" not in page
        assert officer.password not in page  # not even the hash


def test_staff_edit_of_an_officer_is_a_chained_event_e_mailed_to_them(
    officer, staff, other_authority
):
    staff_client = as_staff(staff)
    response = staff_client.post(
        reverse("admin:authorities_user_change", args=[officer.pk]),
        {
            "email": "attacker@platform.example",  # read-only: ignored
            "authority": other_authority.pk,  # read-only: ignored
            "full_name": officer.full_name,
            "is_active": "on",
            "is_authority_contact": "on",
            "is_staff": "on",  # read-only: staff rights come from createsuperuser only
            "is_superuser": "on",
            **NO_INLINE_ROWS,
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    officer.refresh_from_db()
    assert officer.is_authority_contact
    assert officer.email == "marie@interieur.gouv.fr"
    assert officer.authority_id == "FR-OFAC"
    assert not officer.is_staff and not officer.is_superuser
    event = AccountEvent.objects.get(user=officer, kind="changed_by_staff")
    assert event.actor == staff and "is_authority_contact" in event.detail
    assert event.row_hash and account_events_intact()
    assert mail.outbox[-1].to == [officer.email]
    assert "Authority contact" in mail.outbox[-1].body


def test_staff_added_account_gets_a_password_link_and_no_password(staff):
    staff_client = as_staff(staff)
    response = staff_client.post(
        reverse("admin:authorities_user_add"),
        {
            "email": "New.Reviewer@platform.example",
            "full_name": "New Reviewer",
            "password1": "staff-knows-this-pass-1",
            "password2": "staff-knows-this-pass-1",
            "usable_password": "true",
            **NO_INLINE_ROWS,
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email__iexact="new.reviewer@platform.example")
    assert not user.has_usable_password()
    event = AccountEvent.objects.get(user=user, kind="created_by_staff")
    assert event.actor == staff
    assert mail.outbox[-1].to == [user.email]
    assert "/password-reset/" in mail.outbox[-1].body


def test_staff_cannot_add_an_account_on_an_authority_domain(staff, authority):
    staff_client = as_staff(staff)
    staff_client.post(
        reverse("admin:authorities_user_add"),
        {"email": "fake.officer@interieur.gouv.fr", "full_name": "Fake Officer"},
    )
    assert not User.objects.filter(email="fake.officer@interieur.gouv.fr").exists()
