"""Step-up for sensitive changes, login notifications, and rate limits."""

import re

import pytest
from django.core import mail
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from authorities.devices import DEVICE_COOKIE
from authorities.models import AccountEvent, KnownDevice, User
from tests.conftest import current_code, verified_login
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def full_login(client, user):
    client.post(reverse("authorities:login"), {"username": user.email, "password": PASSWORD})
    return client.post(
        reverse("authorities:otp"), {"token": current_code(user.totpdevice_set.get())}
    )


# --- Step-up ----------------------------------------------------------------------------------


def test_email_change_needs_a_fresh_code_and_a_link_to_the_new_address(client, officer):
    verified_login(client, officer)
    url = reverse("authorities:account")
    new = "marie.durand@police.interieur.gouv.fr"
    response = client.post(url, {"action": "email", "new_email": new, "otp_token": "000000"})
    assert "That code is not right" in response.content.decode()
    assert mail.outbox == []
    # A wrong code does not hold the right one back (the throttle counts, tests/security/
    # test_otp_throttle.py).
    code = current_code(officer.totpdevice_set.get())
    client.post(url, {"action": "email", "new_email": new, "otp_token": code})
    link = re.search(r"https?://\S+/account/email/\S+/", mail.outbox[0].body).group(0)
    assert mail.outbox[0].to == [new]
    assert mail.outbox[1].to == [officer.email]  # the old address is told
    officer.refresh_from_db()
    assert officer.email == "marie@interieur.gouv.fr"  # nothing changes before the link
    client.post(link.replace("http://localhost:8000", ""))
    officer.refresh_from_db()
    assert officer.email == new
    assert client.post(link.replace("http://localhost:8000", "")).status_code == 302
    assert AccountEvent.objects.filter(user=officer, kind="email_changed").count() == 1


def test_officer_cannot_move_to_an_address_outside_their_authority(client, officer, outsider):
    verified_login(client, officer)
    code = current_code(officer.totpdevice_set.get())
    response = client.post(
        reverse("authorities:account"),
        {"action": "email", "new_email": "marie@bka.bund.de", "otp_token": code},
    )
    assert "official address of your authority" in response.content.decode()
    assert mail.outbox == []


def test_replacing_the_second_factor_needs_the_current_code_and_is_notified(client, officer):
    verified_login(client, officer)
    url = reverse("authorities:account")
    client.post(url, {"action": "otp", "otp_token": "123456"})
    assert TOTPDevice.objects.filter(user=officer, confirmed=True).count() == 1
    code = current_code(officer.totpdevice_set.get())
    response = client.post(url, {"action": "otp", "otp_token": code})
    assert response.url == reverse("authorities:enrol")
    assert not TOTPDevice.objects.filter(user=officer, confirmed=True).exists()
    assert "second factor" in mail.outbox[-1].subject
    # The session is no longer verified: every page leads to the enrolment.
    assert client.get(reverse("home")).url.startswith(reverse("authorities:otp"))


# --- Login notifications ----------------------------------------------------------------------


def test_login_from_a_new_browser_emails_the_officer_but_a_known_one_does_not(officer):
    from tests.conftest import CommittingClient

    first = CommittingClient()
    full_login(first, officer)  # the first browser ever: no alarm
    assert mail.outbox == []
    assert KnownDevice.objects.filter(user=officer).count() == 1
    first.post(reverse("authorities:logout"))
    # The same browser again (its signed device cookie survives logout): no e-mail.
    import time_machine
    from django.utils import timezone

    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=31), tick=False):
        full_login(first, officer)
    assert mail.outbox == []
    other = CommittingClient(HTTP_USER_AGENT="Unknown Browser 1.0")
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=62), tick=False):
        full_login(other, officer)
    assert len(mail.outbox) == 1
    assert "New sign-in" in mail.outbox[0].subject
    assert "Unknown Browser 1.0" in mail.outbox[0].body
    assert first.cookies[DEVICE_COOKIE].value != other.cookies[DEVICE_COOKIE].value
    assert AccountEvent.objects.filter(user=officer, kind="new_device").count() == 1


def test_forged_device_cookie_counts_as_a_new_browser(officer):
    from tests.conftest import CommittingClient

    full_login(CommittingClient(), officer)
    forger = CommittingClient()
    forger.cookies[DEVICE_COOKIE] = "someone-elses-device-key"
    import time_machine
    from django.utils import timezone

    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=31), tick=False):
        full_login(forger, officer)
    assert "New sign-in" in mail.outbox[-1].subject


# --- Rate limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "url", "data"),
    [
        ("PORTAL_RATE_SIGNUP", "authorities:signup", {"email": "x@gmail.com"}),
        ("PORTAL_RATE_LOGIN", "authorities:login", {"username": "x@y.eu", "password": "p"}),
        ("PORTAL_RATE_PASSWORD_RESET", "authorities:password_reset", {"email": "x@y.eu"}),
    ],
)
def test_public_forms_are_rate_limited_per_ip(client, db, settings, setting, url, data):
    setattr(settings, setting, "3/h")
    statuses = [client.post(reverse(url), data).status_code for _ in range(5)]
    assert 429 not in statuses[:3]
    assert statuses[3:] == [429, 429]
    assert "Too many requests" in client.post(reverse(url), data).content.decode()


def test_submission_and_upload_endpoints_are_rate_limited_per_account(
    client, officer, colleague, settings
):
    from tests.requests_app.helpers import submit

    settings.PORTAL_RATE_SUBMISSION = "2/h"
    verified_login(client, officer)
    statuses = [submit(client, "inquiry").status_code for _ in range(3)]
    assert statuses == [302, 302, 429]
    # Another account (same IP) still has its own allowance.
    verified_login(client, colleague)
    assert submit(client, "inquiry").status_code == 302
    assert User.objects.get(pk=officer.pk).legal_requests.count() == 2
