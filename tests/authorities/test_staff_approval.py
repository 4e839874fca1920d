"""Staff approve officers who signed up (issue 17): the users list filtered to those waiting, and
on an officer's page the registry evidence beside an Approve button that asks for confirmation
and goes through accounts.officer_approve (the AccountEvent, the e-mail to the officer)."""

import datetime
import re
from html import unescape

import pytest
from django.core import mail
from django.urls import reverse

from authorities.constants import AuthorityStatus
from authorities.models import AccountEvent, RegistryChange, RegistryImport, User
from tests.authorities.test_onboarding import complete, link_from, sign_up
from tests.authorities.test_staff_powers import account_events_intact, as_staff, reset_in_admin
from tests.conftest import CommittingClient, verified_login
from tests.factories import OfficerFactory, UserFactory, totp_device

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:authorities_user_changelist")


def change_url(user: User) -> str:
    return reverse("admin:authorities_user_change", args=[user.pk])


def approve_url(user: User) -> str:
    return reverse("admin:authorities_user_approve", args=[user.pk])


@pytest.fixture
def pending(authority):
    """An officer who signed up and confirmed their address: waiting for approval."""
    return OfficerFactory(
        authority=authority, email="new.officer@interieur.gouv.fr", approved_at=None
    )


def approve_form(page: str) -> str:
    """The page's approval form (its opening tag and content), or "" when there is none."""
    match = re.search(r'<form[^>]*id="approve-officer".*?</form>', page, re.S)
    return match.group(0) if match else ""


# --- The list: who waits -----------------------------------------------------------------------


def test_users_list_filters_the_officers_waiting_for_approval(officer, pending, authority, staff):
    unverified = OfficerFactory(
        authority=authority,
        email="not.yet@interieur.gouv.fr",
        approved_at=None,
        email_verified_at=None,
    )
    platform = UserFactory(email="someone@platform.example")  # no approval for platform accounts

    response = as_staff(staff).get(CHANGELIST, {"approval": "waiting"})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [pending]
    page = response.content.decode()
    assert "Waiting for approval" in page  # the filter, by its name, in the side bar
    for other in (officer, unverified, platform):
        assert other.email not in page


def test_users_list_filters_the_approved_officers(officer, pending, staff):
    response = as_staff(staff).get(CHANGELIST, {"approval": "approved"})

    assert list(response.context["cl"].result_list) == [officer]


def test_an_unknown_filter_value_lists_everyone(officer, pending, staff):
    response = as_staff(staff).get(CHANGELIST, {"approval": "no-such\x00"})

    assert response.status_code == 200
    assert {officer, pending} <= set(response.context["cl"].result_list)


# --- The officer's page: evidence and the button -----------------------------------------------


def test_waiting_officers_page_shows_the_registry_evidence_beside_an_approve_button(
    pending, authority, staff
):
    registry_file = RegistryImport.objects.create(
        imported_by="deploy",
        file_name="registry-2026-11.json",
        sha256="0" * 64,
        version="2026.11",
        imported_at=datetime.datetime(2026, 11, 2, 9, 30, tzinfo=datetime.UTC),
    )
    RegistryChange.objects.create(
        authority=authority,
        changed_by="deploy",
        origin=RegistryChange.Origin.IMPORT,
        registry_import=registry_file,
        changed_at=registry_file.imported_at,
        changes={"created": True},
    )
    authority.instruments = ["epoc", "tco_removal"]
    authority.save()

    page = unescape(as_staff(staff).get(change_url(pending)).content.decode())

    form = approve_form(page)
    assert form, "no Approve button on the page of an officer waiting for approval"
    assert f'action="{approve_url(pending)}"' in form
    # The evidence once, beside the button; the account's own field points there.
    assert page.count("Member State: ") == 1
    assert "Shown above, beside the Approve button." in page
    assert 'method="post"' in form and "csrfmiddlewaretoken" in form
    assert re.search(r'data-confirm="[^"]*new.officer@interieur.gouv.fr', form)
    assert "Approve" in form
    evidence = page[page.index("Registry evidence") :]
    for shown in (
        authority.name,
        "France",  # Member State
        "Public prosecutor",  # kind
        "European Production Order (EPOC)",
        "Removal order for terrorist content (TCO)",
        "interieur.gouv.fr",
        "matches this authority in the registry",
        authority.source_list,
        authority.source_reference,
        "registry-2026-11.json",
        "2026.11",
        "2 Nov 2026",
    ):
        assert shown in evidence, shown
    assert "European Preservation Order" not in evidence  # not one of its instruments
    assert re.search(r"<script src=\"/static/js/confirm[.0-9a-f]*\.js\"", page)  # strict CSP


def test_evidence_says_when_the_address_no_longer_matches_the_registry(pending, authority, staff):
    authority.domains.update(domain="police.gouv.fr")

    page = as_staff(staff).get(change_url(pending)).content.decode()

    assert "DOES NOT match this authority" in page


@pytest.mark.parametrize(
    "who",
    [
        {"approved_at": datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)},  # done already
        {"email_verified_at": None},  # has not opened the link yet
    ],
)
def test_no_approve_button_for_an_officer_not_waiting(who, authority, staff):
    user = OfficerFactory(authority=authority, email="someone@interieur.gouv.fr", **who)

    page = as_staff(staff).get(change_url(user)).content.decode()

    assert approve_form(page) == ""


def test_no_approve_button_on_a_platform_account(reviewer, staff):
    reviewer.approved_at = None
    reviewer.save()

    page = as_staff(staff).get(change_url(reviewer)).content.decode()

    assert approve_form(page) == ""


# --- Approving ---------------------------------------------------------------------------------


def test_approve_button_approves_through_the_service_recorded_and_mailed(pending, staff):
    staff_client = as_staff(staff)
    response = staff_client.post(approve_url(pending))

    assert response.status_code == 302 and response.url == change_url(pending)
    pending.refresh_from_db()
    assert pending.approved_by == staff and pending.approved_at is not None
    event = AccountEvent.objects.get(user=pending, kind=AccountEvent.Kind.APPROVED)
    assert event.actor == staff
    assert account_events_intact()
    assert mail.outbox[-1].to == [pending.email] and "approved" in mail.outbox[-1].subject
    page = staff_client.get(response.url).content.decode()
    assert f"Approved: {pending.email}" in page
    assert approve_form(page) == ""


def test_approve_needs_post(pending, staff):
    assert as_staff(staff).get(approve_url(pending)).status_code == 405
    pending.refresh_from_db()
    assert pending.approved_at is None


def test_approval_refused_by_the_service_is_shown_and_changes_nothing(pending, authority, staff):
    authority.status = AuthorityStatus.SUSPENDED
    authority.save()

    response = as_staff(staff).post(approve_url(pending), follow=True)

    assert "not active in the registry" in response.content.decode()
    pending.refresh_from_db()
    assert pending.approved_at is None
    assert not AccountEvent.objects.filter(user=pending, kind=AccountEvent.Kind.APPROVED).exists()


def test_the_staff_member_who_reset_a_second_factor_cannot_approve_the_officer_again(
    officer, staff
):
    staff_client = as_staff(staff)
    reset_in_admin(staff_client, officer)
    totp_device(officer)  # the officer enrolled again

    response = staff_client.post(approve_url(officer), follow=True)

    assert "other than the one who reset it" in response.content.decode()
    officer.refresh_from_db()
    assert officer.approved_at is None


def test_nobody_but_staff_may_approve(pending, authority, reviewer, lead):
    contact = OfficerFactory(
        authority=authority, email="chef@interieur.gouv.fr", is_authority_contact=True
    )
    totp_device(contact)
    for user in (reviewer, lead, contact):
        client = verified_login(CommittingClient(), user)
        assert client.post(approve_url(pending)).status_code == 404, user.email
    anonymous = CommittingClient().post(approve_url(pending))
    assert anonymous.status_code == 302 and "/login/" in anonymous.url
    pending.refresh_from_db()
    assert pending.approved_at is None


def test_approving_an_unknown_account_is_a_404(staff):
    url = reverse("admin:authorities_user_approve", args=["999999"])
    assert as_staff(staff).post(url).status_code == 404
    assert not AccountEvent.objects.filter(kind=AccountEvent.Kind.APPROVED).exists()


# --- From the sign-up to the approval ----------------------------------------------------------


def test_staff_e_mail_about_a_sign_up_leads_to_the_approve_button(client, authority, staff):
    sign_up(client, "marie@interieur.gouv.fr")
    complete(client, link_from(mail.outbox[0]))
    officer = User.objects.get(email="marie@interieur.gouv.fr")
    (notice,) = [m for m in mail.outbox if m.to == [staff.email]]
    assert "waits for approval" in notice.subject

    staff_client = as_staff(staff)
    page = staff_client.get(link_from(notice)).content.decode()
    assert approve_form(page)
    waiting = staff_client.get(CHANGELIST, {"approval": "waiting"})
    assert list(waiting.context["cl"].result_list) == [officer]

    staff_client.post(approve_url(officer))
    officer.refresh_from_db()
    assert officer.approved_by == staff
