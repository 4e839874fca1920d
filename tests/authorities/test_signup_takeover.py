"""Issue 13, findings 1, 3 and 6: sign-up gives a credential only to whoever proves control of
the mailbox, does the same work whether or not the address has an account, and takes one
account per mailbox (no +tag, no quoted local part).

The pages are driven as a browser would. The posts carry the fields of the old sign-up form
(passwords) as well, so the same test shows the attack against the code before the change."""

import re

import pytest
from django.contrib.auth.hashers import get_hashers
from django.core import mail
from django.urls import reverse

from authorities.accounts import email_verification_token
from authorities.models import User
from tests.conftest import current_code, verified_login
from tests.factories import PASSWORD, OfficerFactory, totp_device

pytestmark = pytest.mark.django_db

CLAIRE = "claire.bernard@interieur.gouv.fr"
ATTACKER_PASSWORD = "attacker-chose-this-1"
HER_PASSWORD = "claire-own-password-2"
PLAIN_MESSAGE = "Use your plain official address, without a +tag, quotes or other special"


def sign_up(client, email, name, password):
    # password1/2: what the sign-up form took before the change (ignored by the new form).
    return client.post(
        reverse("authorities:signup"),
        {"email": email, "full_name": name, "password1": password, "password2": password},
    )


def link_path(message) -> str:
    return (
        re.search(r"https?://\S+/signup/verify/\S+/", message.body)
        .group(0)
        .split("localhost:8000", 1)[-1]
    )


def open_link(client, link, name, password):
    """What the mailbox holder does with the link: open it (GET), then submit the page, with
    the name and the password chosen there (the old page had only a button)."""
    assert client.get(link).status_code == 200
    return client.post(
        link, {"full_name": name, "new_password1": password, "new_password2": password}
    )


def password_step(client, email, password):
    return client.post(reverse("authorities:login"), {"username": email, "password": password})


def logs_in(client_class, email, password) -> bool:
    """The password step passes: the next page is the second factor (enrolment for a new
    account), which is where the attacker would enrol their own authenticator."""
    response = password_step(client_class(), email, password)
    second_factor = (reverse("authorities:enrol"), reverse("authorities:otp"))
    return response.status_code == 302 and response.url.startswith(second_factor)


# --- Finding 1: pre-hijacking ------------------------------------------------------------------


def test_whoever_signs_up_first_gets_no_credential_the_mailbox_holder_chooses_it(client, authority):
    attacker, claire = client.__class__(), client.__class__()
    sign_up(attacker, CLAIRE, "Claire Bernard", ATTACKER_PASSWORD)  # does not own the mailbox
    sign_up(claire, CLAIRE, "Claire Bernard", HER_PASSWORD)  # the real officer, later
    assert len(mail.outbox) == 2 and {m.to[0] for m in mail.outbox} == {CLAIRE}

    done = open_link(claire, link_path(mail.outbox[-1]), "Claire Bernard", HER_PASSWORD)

    assert "Address confirmed" in done.content.decode()
    assert logs_in(client.__class__, CLAIRE, HER_PASSWORD)
    assert not logs_in(client.__class__, CLAIRE, ATTACKER_PASSWORD)
    assert User.objects.filter(email=CLAIRE).count() == 1


def test_a_pending_account_cannot_be_logged_into_with_the_sign_up_password(client, authority):
    sign_up(client, CLAIRE, "Claire Bernard", ATTACKER_PASSWORD)

    account = User.objects.get(email=CLAIRE)
    assert not account.has_usable_password()
    response = password_step(client.__class__(), CLAIRE, ATTACKER_PASSWORD)
    assert "E-mail address or password is wrong" in response.content.decode()


def test_every_link_of_a_pending_account_stops_working_once_one_is_used(client, authority):
    sign_up(client, CLAIRE, "Someone Else", ATTACKER_PASSWORD)
    sign_up(client, CLAIRE, "Claire Bernard", HER_PASSWORD)
    first, newest = link_path(mail.outbox[0]), link_path(mail.outbox[1])

    open_link(client.__class__(), newest, "Claire Bernard", HER_PASSWORD)
    again = client.__class__().post(
        first,
        {"full_name": "X", "new_password1": ATTACKER_PASSWORD, "new_password2": ATTACKER_PASSWORD},
    )

    assert "already been used" in again.content.decode()
    claire = User.objects.get(email=CLAIRE)
    assert claire.check_password(HER_PASSWORD) and claire.full_name == "Claire Bernard"


def test_the_link_page_sets_the_name_confirmed_there(client, authority):
    sign_up(client, CLAIRE, "Claire Bernrad (typo)", ATTACKER_PASSWORD)
    page = client.get(link_path(mail.outbox[0])).content.decode()
    assert 'value="Claire Bernrad (typo)"' in page  # shown to be checked

    open_link(client, link_path(mail.outbox[0]), "Claire Bernard", HER_PASSWORD)

    assert User.objects.get(email=CLAIRE).full_name == "Claire Bernard"


def test_an_account_left_pending_with_a_password_and_a_device_keeps_neither(client, authority):
    """Accounts signed up before the change carry the first person's password; anything set up
    on a pending account is not the mailbox holder's and goes when the address is confirmed."""
    legacy = OfficerFactory(
        authority=authority, email=CLAIRE, email_verified_at=None, approved_at=None
    )
    totp_device(legacy)  # PASSWORD and this device: the earlier person's

    open_link(client, link_path_for(legacy), "Claire Bernard", HER_PASSWORD)

    legacy.refresh_from_db()
    assert legacy.check_password(HER_PASSWORD) and not legacy.check_password(PASSWORD)
    assert not legacy.totpdevice_set.exists()
    response = password_step(client.__class__(), CLAIRE, HER_PASSWORD)
    assert response.url.startswith(reverse("authorities:enrol"))  # she enrols her own


def link_path_for(user: User) -> str:
    return reverse("authorities:verify_email", args=[email_verification_token(user)])


# --- Finding 3: the same work whether or not the address has an account -----------------------


@pytest.fixture
def hasher_calls(monkeypatch):
    """Count every password hash computed or checked, by wrapping (not replacing) the
    configured hashers' encode and verify."""
    calls = []
    for hasher in get_hashers():
        cls = type(hasher)
        for name in ("encode", "verify"):
            original = getattr(cls, name)

            def counted(self, *args, _original=original, _name=name, **kwargs):
                calls.append(f"{type(self).__name__}.{_name}")
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(cls, name, counted)
    return calls


def test_signup_does_the_same_work_for_new_pending_and_existing_addresses(
    client, authority, officer, hasher_calls
):
    pending = OfficerFactory(
        authority=authority, email="paul.pending@interieur.gouv.fr", email_verified_at=None
    )
    work = {}
    for label, email in [
        ("new", "new.person@interieur.gouv.fr"),
        ("pending", pending.email),
        ("verified", officer.email),
    ]:
        hasher_calls.clear()
        sent_before = len(mail.outbox)
        response = sign_up(client, email, "Some Name", ATTACKER_PASSWORD)
        assert "Check your e-mail" in response.content.decode()
        work[label] = (len(hasher_calls), len(mail.outbox) - sent_before)

    # No password hash on any path (the 0.6 s that told addresses apart), one e-mail each,
    # sent the same way (send_now after commit, within the request).
    assert work == {"new": (0, 1), "pending": (0, 1), "verified": (0, 1)}


def test_the_hasher_counter_counts(hasher_calls, authority):
    """The counter above sees a hash when there is one (else the test could not fail)."""
    user = OfficerFactory(authority=authority)
    hasher_calls.clear()
    user.check_password(PASSWORD)
    assert hasher_calls


# --- Finding 6: one mailbox, one account -------------------------------------------------------

ALIASES = [
    "marie.durand+x@interieur.gouv.fr",
    '"marie.durand"@interieur.gouv.fr',
    '"evil@attacker.example"@interieur.gouv.fr',
    "marie.durand=x@interieur.gouv.fr",
    "marie%durand@interieur.gouv.fr",
    "marie.duran\u017f@interieur.gouv.fr",  # long s: Django's case-insensitive [A-Z] takes it
]


@pytest.mark.parametrize("alias", ALIASES)
def test_signup_refuses_an_alias_of_a_mailbox_with_a_clear_message(client, authority, alias):
    response = sign_up(client, alias, "Marie Durand", ATTACKER_PASSWORD)

    body = response.content.decode()
    assert PLAIN_MESSAGE in body or "Enter a valid email address" in body
    assert User.objects.count() == 0
    assert mail.outbox == []


@pytest.mark.parametrize("alias", ALIASES[:3])
def test_signup_names_the_rule_for_a_tag_or_quotes(client, authority, alias):
    response = sign_up(client, alias, "Marie Durand", ATTACKER_PASSWORD)
    assert PLAIN_MESSAGE in response.content.decode()


@pytest.mark.parametrize("alias", ["marie+x@interieur.gouv.fr", '"marie"@interieur.gouv.fr'])
def test_email_change_refuses_an_alias_of_a_mailbox(client, officer, alias):
    verified_login(client, officer)
    response = client.post(
        reverse("authorities:account"),
        {
            "action": "email",
            "new_email": alias,
            "otp_token": current_code(officer.totpdevice_set.get()),
        },
    )
    assert PLAIN_MESSAGE in response.content.decode()
    assert mail.outbox == []
    officer.refresh_from_db()
    assert officer.email == "marie@interieur.gouv.fr"


def test_an_address_in_other_case_is_the_same_mailbox_and_account(client, officer):
    sign_up(client, "MARIE@Interieur.Gouv.Fr", "Marie", ATTACKER_PASSWORD)

    assert User.objects.filter(email__iexact=officer.email).count() == 1
    assert "which already has an" in mail.outbox[-1].body


@pytest.mark.parametrize(
    "address",
    ["marie.durand@x.fr", "jean-pierre.o'brien@x.fr", "m_durand2@x.fr", "Marie.Durand@X.FR"],
)
def test_a_plain_address_is_kept_in_lower_case(address):
    from authorities.domains import plain_mailbox  # here: the page tests run without it too

    assert plain_mailbox(address) == address.lower()


@pytest.mark.parametrize(
    "address",
    [
        *ALIASES,
        "a@b@interieur.gouv.fr",
        "no-at-sign.interieur.gouv.fr",
        ".marie@x.fr",
        "marie.@x.fr",
        "marie..durand@x.fr",
        "marie!x@x.fr",
        "marie/x@x.fr",
        "marie\u212a@x.fr",  # Kelvin sign: lower() makes it an ASCII k
        "",
    ],
)
def test_anything_but_a_plain_address_is_refused(address):
    from authorities.domains import MailboxError, plain_mailbox

    with pytest.raises(MailboxError, match="plain official address"):
        plain_mailbox(address)
