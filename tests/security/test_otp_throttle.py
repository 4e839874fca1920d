"""The second-factor throttle (issue 13, finding 7): wrong codes are counted per browser bucket
(a browser that completed a login for the account, or all other browsers together), so a
password holder can neither guess more than PORTAL_OTP_FAILURES_PER_HOUR codes an hour nor
freeze the real officer's second factor. Everything goes through the real pages."""

import re
import threading
import zoneinfo
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from authorities.constants import Instrument
from authorities.devices import DEVICE_COOKIE
from authorities.models import AccountEvent, BackupCodeDevice
from requests_app.models import LegalRequest, Status
from tests.conftest import CommittingClient, current_code, verified_login
from tests.factories import PASSWORD
from tests.requests_app.helpers import VALID, submit

pytestmark = pytest.mark.django_db

ATTACKER_IP = "198.51.100.7"
NOT_RIGHT = "That code is not right"
WAIT = re.compile(
    r"Too many wrong codes from [^.]+\. Try again in (\d+) minutes? \(at (\d\d:\d\d) "
)


def password_step(client, user):
    return client.post(reverse("authorities:login"), {"username": user.email, "password": PASSWORD})


def code_step(client, token):
    return client.post(reverse("authorities:otp"), {"token": token})


def code_of(user) -> str:
    return current_code(user.totpdevice_set.get(confirmed=True))


def is_verified(client) -> bool:
    return client.get(reverse("home")).status_code == 200


def known_browser(user) -> CommittingClient:
    """The officer's usual browser: one full login through the pages (which leaves the signed
    device cookie), then logout; the cookie outlives the session."""
    browser = CommittingClient()
    password_step(browser, user)
    assert code_step(browser, code_of(user)).status_code == 302
    assert DEVICE_COOKIE in browser.cookies
    browser.post(reverse("authorities:logout"))
    return browser


def wrong_codes_checked(user) -> list:
    return list(
        AccountEvent.objects.filter(user=user, kind=AccountEvent.Kind.LOGIN_FAILED_OTP)
        .order_by("at")
        .values_list("at", flat=True)
    )


@pytest.fixture(autouse=True)
def _cap(settings):
    """The default cap, set here so the figures below do not depend on the environment."""
    settings.PORTAL_OTP_FAILURES_PER_HOUR = 10


@pytest.fixture
def attacker():
    """Another browser at another address, which has the officer's password but never completed
    a login for the account."""
    return CommittingClient(REMOTE_ADDR=ATTACKER_IP, HTTP_USER_AGENT="Attacker 1.0")


def test_wrong_codes_from_a_password_holder_do_not_freeze_the_officers_own_browser(
    officer, attacker
):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        browser = known_browser(officer)

        clock.shift(31)  # a TOTP code is accepted once: the next login uses the next code
        password_step(attacker, officer)
        assert NOT_RIGHT in code_step(attacker, "000000").content.decode()
        password_step(browser, officer)
        assert code_step(browser, code_of(officer)).status_code == 302
        assert is_verified(browser)
        browser.post(reverse("authorities:logout"))

        clock.shift(31)
        for guess in range(20):
            response = code_step(attacker, f"{guess:06d}")
        assert "Too many wrong codes" in response.content.decode()
        assert not is_verified(attacker)
        password_step(browser, officer)
        assert code_step(browser, code_of(officer)).status_code == 302
        assert is_verified(browser)


def test_guessing_is_capped_per_hour_and_the_wait_is_named(officer, attacker, settings):
    """A guess every minute for three hours: at most the cap is checked in any rolling hour, the
    other guesses are refused unchecked with the wait in minutes, and the window reopens."""
    settings.PORTAL_RATE_LOGIN = "1000/h"  # the per-address rate limit is another control
    cap = settings.PORTAL_OTP_FAILURES_PER_HOUR
    assert cap <= 12
    start = timezone.now().replace(second=0, microsecond=0)
    with time_machine.travel(start, tick=False) as clock:
        password_step(attacker, officer)
        for minute in range(180):
            response = code_step(attacker, "000000").content.decode()
            if minute % 60 < cap:
                assert NOT_RIGHT in response
            else:
                wait = WAIT.search(response)
                assert wait is not None, response
                assert int(wait.group(1)) == 60 - minute % 60
                assert NOT_RIGHT not in response
            if minute == 15:
                # Even the right code is not checked while the wait applies.
                refused = code_step(attacker, code_of(officer)).content.decode()
                assert WAIT.search(refused).group(1) == "45"
                assert not is_verified(attacker)
            clock.shift(60)
        checked = wrong_codes_checked(officer)
        assert len(checked) == 3 * cap
        for at in checked:
            in_an_hour = [other for other in checked if at <= other < at + timedelta(hours=1)]
            assert len(in_an_hour) <= cap
        # Three hours on, the bucket is open again and the right code is accepted.
        assert code_step(attacker, code_of(officer)).status_code == 302
        assert is_verified(attacker)
    # Rows past the window are deleted as new ones are written.
    from authorities.models import OTPFailure

    assert OTPFailure.objects.filter(user=officer, at__lte=start + timedelta(hours=1)).count() == 0


def test_the_wait_says_when_in_the_officers_time_zone(officer, attacker, settings):
    officer.time_zone = "Europe/Paris"
    officer.save()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        password_step(attacker, officer)
        for guess in range(settings.PORTAL_OTP_FAILURES_PER_HOUR):
            code_step(attacker, f"{guess:06d}")
        clock.shift(23 * 60)
        response = code_step(attacker, "000000").content.decode()
    until = timezone.localtime(start + timedelta(hours=1), zoneinfo.ZoneInfo("Europe/Paris"))
    assert f"Try again in 37 minutes (at {until:%H:%M} Europe/Paris)" in response


def test_backup_codes_and_app_codes_share_one_cap(officer, attacker, settings):
    backup = BackupCodeDevice.objects.create(user=officer, name="Backup codes", confirmed=True)
    codes = backup.generate_codes()
    with time_machine.travel(timezone.now(), tick=False):
        password_step(attacker, officer)
        for guess in range(settings.PORTAL_OTP_FAILURES_PER_HOUR):
            # Half look like app codes, half like backup codes: each counts once.
            code_step(attacker, f"{guess:06d}" if guess % 2 else f"{guess:05d}-00000")
        response = code_step(attacker, codes[0]).content.decode()
    assert WAIT.search(response) is not None
    assert not is_verified(attacker)
    assert backup.remaining == 10  # not checked, so not used up
    assert len(wrong_codes_checked(officer)) == settings.PORTAL_OTP_FAILURES_PER_HOUR


def test_a_device_cookie_of_another_account_counts_as_an_unknown_browser(
    officer, outsider, settings
):
    """The outsider's own browser has a valid signed cookie, but not one of this account."""
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        own = known_browser(officer)
        theirs = known_browser(outsider)
        clock.shift(31)
        password_step(theirs, officer)
        for guess in range(settings.PORTAL_OTP_FAILURES_PER_HOUR + 1):
            response = code_step(theirs, f"{guess:06d}").content.decode()
        assert "browsers not used with this account before" in response
        password_step(own, officer)
        assert code_step(own, code_of(officer)).status_code == 302


# --- Step-up: the lead's emergency approval, the account page, the password reset ----------


@pytest.fixture
def emergency(client, officer, reviewer, settings):
    """An emergency disclosure request whose call-back is confirmed: it awaits a lead. Passkey
    sessions (PORTAL_PHISHING_RESISTANT_FOR) are another control: here only the code is tested."""
    settings.PORTAL_PHISHING_RESISTANT_FOR = frozenset()
    instrument = Instrument.EMERGENCY_DISCLOSURE
    verified_login(client, officer)
    assert submit(client, instrument, VALID[instrument]).status_code == 302
    legal_request = LegalRequest.objects.exclude(status=Status.DRAFT).latest("pk")
    verified_login(client, reviewer)
    client.post(
        reverse("review:action", args=[legal_request.public_id, "callback"]),
        {"outcome": "confirmed"},
    )
    return legal_request


def approve(browser, legal_request, token):
    response = browser.post(
        reverse("review:action", args=[legal_request.public_id, "approve"]), {"otp_token": token}
    )
    return browser.get(response.url).content.decode()


def test_wrong_codes_from_a_password_holder_do_not_block_the_leads_emergency_approval(
    emergency, lead, attacker
):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        browser = known_browser(lead)
        password_step(browser, lead)
        clock.shift(31)
        assert code_step(browser, code_of(lead)).status_code == 302
        clock.shift(31)  # the next code: the login's is used up
        password_step(attacker, lead)
        for guess in range(20):
            code_step(attacker, f"{guess:06d}")
        page = approve(browser, emergency, code_of(lead))
    assert "Emergency disclosure approved" in page
    assert emergency.approvals.count() == 1


def test_the_emergency_approval_names_the_wait_instead_of_a_wrong_code(emergency, lead, settings):
    lead.time_zone = "Europe/Paris"
    lead.save()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        browser = known_browser(lead)
        password_step(browser, lead)
        clock.shift(31)
        code_step(browser, code_of(lead))
        for guess in range(settings.PORTAL_OTP_FAILURES_PER_HOUR):  # the lead mistypes
            assert NOT_RIGHT in approve(browser, emergency, f"{guess:06d}")
        clock.shift(5 * 60)
        page = approve(browser, emergency, code_of(lead))
        assert "Too many wrong codes from this browser. Try again in 55 minutes" in page
        assert NOT_RIGHT not in page
        assert not emergency.approvals.exists()
        # An hour on, the session has idled out: log in again, then the code is checked.
        clock.shift(55 * 60 + 1)
        assert (
            "Your session has ended" in browser.get(reverse("home"), follow=True).content.decode()
        )
        password_step(browser, lead)
        code_step(browser, code_of(lead))
        assert is_verified(browser)
        clock.shift(31)
        assert "Emergency disclosure approved" in approve(browser, emergency, code_of(lead))


def test_the_account_page_names_the_wait_for_an_email_change(officer, attacker, settings):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        password_step(attacker, officer)
        for guess in range(settings.PORTAL_OTP_FAILURES_PER_HOUR):
            code_step(attacker, f"{guess:06d}")
        clock.shift(10 * 60)
        session = verified_login(CommittingClient(), officer)  # a session on a browser
        response = session.post(  # that never completed a login: the same unknown bucket
            reverse("authorities:account"),
            {
                "action": "email",
                "new_email": "m.d@interieur.gouv.fr",
                "otp_token": code_of(officer),
            },
        ).content.decode()
    assert WAIT.search(response).group(1) == "50"
    assert NOT_RIGHT not in response
    # No link to the new address: only the owner's warning that someone guessed codes.
    assert [m.to for m in mail.outbox] == [[officer.email]]
    assert "guessing your second-factor codes" in mail.outbox[0].subject


def test_the_password_reset_names_the_wait_and_the_officers_browser_is_not_blocked(
    officer, attacker, settings
):
    def reset_form(browser) -> str:
        browser.post(reverse("authorities:password_reset"), {"email": officer.email})
        link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
        return browser.get(link.replace("http://localhost:8000", ""), follow=True).redirect_chain[
            -1
        ][0]

    new = "a-brand-new-password-42"
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        browser = known_browser(officer)
        password_step(attacker, officer)
        for guess in range(settings.PORTAL_OTP_FAILURES_PER_HOUR):
            code_step(attacker, f"{guess:06d}")
        clock.shift(31)
        form = {"new_password1": new, "new_password2": new, "otp_token": code_of(officer)}
        refused = attacker.post(reset_form(attacker), form).content.decode()
        assert WAIT.search(refused) is not None
        assert NOT_RIGHT not in refused
        officer.refresh_from_db()
        assert officer.check_password(PASSWORD)
        assert browser.post(reset_form(browser), form).status_code == 302
    officer.refresh_from_db()
    assert officer.check_password(new)


# --- Guesses sent together ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_checks_of_one_account_wait_for_each_other(officer):
    """A check holds the account's row lock from the count to the recorded failure, so guesses
    sent at the same moment cannot all see a bucket below the cap."""
    from authorities.models import User
    from authorities.second_factor import otp_check

    finished = threading.Event()

    def guess() -> None:
        try:
            otp_check(user=officer, token="000000", ip=ATTACKER_IP, device_key=None)
        finally:
            connection.close()
            finished.set()

    with transaction.atomic():
        # A lock that a check's own lock (FOR UPDATE) waits for, but the foreign-key checks of
        # its inserts (FOR KEY SHARE) do not: only the check's lock can hold it back.
        User.objects.select_for_update(no_key=True).get(pk=officer.pk)
        threading.Thread(target=guess).start()
        assert not finished.wait(1)  # the second check waits for the first
    assert finished.wait(10)
    assert len(wrong_codes_checked(officer)) == 1


def test_the_owner_is_warned_once_a_day_when_unknown_browsers_use_up_their_codes(
    officer, attacker, settings
):
    """The code is asked only after the right password: a full bucket of wrong codes from
    browsers the account never logged in with means the password is known to someone else."""
    settings.PORTAL_RATE_LOGIN = "1000/h"
    cap = settings.PORTAL_OTP_FAILURES_PER_HOUR
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        password_step(attacker, officer)
        for guess in range(cap - 1):
            code_step(attacker, f"{guess:06d}")
        assert mail.outbox == []
        code_step(attacker, "999999")
        warnings = [m for m in mail.outbox if "guessing your second-factor codes" in m.subject]
        assert [m.to for m in warnings] == [[officer.email]]
        assert ATTACKER_IP in warnings[0].body and "Change your password" in warnings[0].body
        assert AccountEvent.objects.filter(
            user=officer, kind=AccountEvent.Kind.OTP_GUESSING, ip_address=ATTACKER_IP
        ).exists()

        def fill_the_bucket_again():
            attacker.cookies.clear()  # the earlier login session has timed out
            password_step(attacker, officer)
            for guess in range(cap):
                assert NOT_RIGHT in code_step(attacker, f"{guess:06d}").content.decode()

        clock.shift(timedelta(hours=2))  # the bucket fills again: no second e-mail that day
        fill_the_bucket_again()
        assert len([m for m in mail.outbox if "guessing" in m.subject]) == 1
        clock.shift(timedelta(hours=25))
        fill_the_bucket_again()
        assert len([m for m in mail.outbox if "guessing" in m.subject]) == 2


def test_the_officers_own_typos_on_a_known_browser_send_no_warning(officer, settings):
    settings.PORTAL_RATE_LOGIN = "1000/h"
    with time_machine.travel(timezone.now(), tick=False) as clock:
        browser = known_browser(officer)
        clock.shift(31)
        mail.outbox.clear()
        password_step(browser, officer)
        for guess in range(settings.PORTAL_OTP_FAILURES_PER_HOUR):
            code_step(browser, f"{guess:06d}")
    assert not [m for m in mail.outbox if "guessing" in m.subject]
