"""Second factors: enrolling the authenticator app, checking a code under the throttle, a staff
reset and the owner's replacement; and which second factor verified a session, for the actions
that need a phishing-resistant one.

A TOTP code can be phished in real time: a fake login page asks for it and replays it within
the 30 seconds. A passkey (WebAuthn) signs a challenge for this site's domain only, so a page on
another domain gets nothing it can replay. settings.PORTAL_PHISHING_RESISTANT_FOR names the
actions that need a session verified with a passkey. (Adding and removing passkeys: passkeys.py.)
"""

import math
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from portal.emails import absolute_url, local_time

from .accounts import (
    IDENTITY_CHECK_VALID,
    account_event_record,
    check_staff_acts_on_other,
    mail_owner,
)
from .devices import device_key_hash
from .models import (
    AccountEvent,
    BackupCodeDevice,
    IdentityCheck,
    KnownDevice,
    OTPFailure,
    User,
)
from .selectors import confirmed_devices

EMERGENCY_SUBMIT = "emergency_submit"
EMERGENCY_APPROVAL = "emergency_approval"
ADMIN = "admin"


class PasskeyRequired(PermissionDenied):
    """The action needs a session verified with a passkey, and this one was not."""

    def __init__(self, action: str):
        self.action = action
        super().__init__(passkey_required_message(action))


def requires_phishing_resistant(action: str) -> bool:
    if action not in settings.PORTAL_PHISHING_RESISTANT_ACTIONS:
        raise ImproperlyConfigured(f"Unknown phishing-resistant action: {action!r}")
    return action in settings.PORTAL_PHISHING_RESISTANT_FOR


def device_is_phishing_resistant(device, user) -> bool:
    return (
        isinstance(device, WebAuthnCredential)
        and device.confirmed
        and user is not None
        and device.user_id == user.pk
    )


def device_id_is_phishing_resistant(device_id: str, user) -> bool:
    """For services, which see the session's device as its persistent id (what django-otp keeps
    in the session and what a submission records)."""
    device = Device.from_persistent_id(device_id) if device_id else None
    return device_is_phishing_resistant(device, user)


def session_is_phishing_resistant(request: HttpRequest) -> bool:
    """The session's second factor was verified with one of the user's passkeys."""
    user = request.user
    return (
        user.is_authenticated
        and user.is_verified()
        and device_is_phishing_resistant(getattr(user, "otp_device", None), user)
    )


def device_kind_label(device_id: str) -> str:
    """What kind of second factor a stored persistent id ("otp_totp.totpdevice/4") names, in
    words for the pages: the id itself means nothing to a reviewer. Read from the id alone, so a
    page listing many costs no query."""
    model = device_id.partition("/")[0]
    labels = {
        TOTPDevice._meta.label_lower: gettext("Authenticator app"),
        WebAuthnCredential._meta.label_lower: gettext("Passkey"),
        BackupCodeDevice._meta.label_lower: gettext("Backup code"),
    }
    return labels.get(model, gettext("Other second factor")) if device_id else ""


def session_device_id(request: HttpRequest) -> str:
    """The persistent id of the device that verified this session ("" when none): what views
    hand to services that apply the rule (device_id_is_phishing_resistant)."""
    return getattr(getattr(request.user, "otp_device", None), "persistent_id", "")


def session_may(request: HttpRequest, action: str) -> bool:
    return not requires_phishing_resistant(action) or session_is_phishing_resistant(request)


def passkeys_of(user):
    return WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("created_at")


def has_passkey(user) -> bool:
    return passkeys_of(user).exists()


def passkey_required_message(action: str) -> str:
    return {
        EMERGENCY_SUBMIT: gettext(
            "Emergency requests need a passkey: log in with your passkey to submit one."
        ),
        EMERGENCY_APPROVAL: gettext(
            "Approving an emergency disclosure needs a passkey: log in with your passkey first."
        ),
        ADMIN: gettext("Staff administration needs a passkey: log in with your passkey first."),
    }.get(action, gettext("This action needs a passkey."))


# --- Enrolment, the code check and its throttle, reset and replacement ---------------------------


def totp_device_for_enrolment(user: User) -> TOTPDevice:
    """The user's unconfirmed TOTP device, created on first call; the same key until confirmed,
    so reloading the enrolment page does not invalidate a QR code already scanned."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


@transaction.atomic
def otp_enrol_confirm(*, user: User, token: str, ip: str | None) -> tuple[TOTPDevice, list[str]]:
    """Confirm the enrolment with a first code from the app; return the device and the backup
    codes in clear (shown once, stored hashed). Raises ValidationError on a wrong code."""
    device = totp_device_for_enrolment(user)
    if not device.verify_token(token):
        raise ValidationError(
            gettext("That code is not right. Check the time on your phone and retry.")
        )
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    backup, _ = BackupCodeDevice.objects.get_or_create(
        user=user, defaults={"name": "Backup codes", "confirmed": True}
    )
    codes = backup.generate_codes()
    account_event_record(user=user, kind=AccountEvent.Kind.OTP_ENROLLED, ip=ip)
    return device, codes


OTP_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class OTPResult:
    """What otp_check decided. `device` accepted the code; otherwise, when `wait` is set, the
    code was not checked at all because the browser's bucket is full until `until`. True only
    when a device accepted the code."""

    device: Device | None = None
    wait: timedelta | None = None
    until: datetime | None = None
    known_browser: bool = False
    time_zone: str = "UTC"

    def __bool__(self) -> bool:
        return self.device is not None

    @property
    def wait_message(self) -> str | None:
        """What to tell the user when a wait applies (never "the code is not right": it was not
        checked), in their time zone; None when no wait applies."""
        if self.wait is None or self.until is None:
            return None
        minutes = max(1, math.ceil(self.wait.total_seconds() / 60))
        try:
            zone = zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = zoneinfo.ZoneInfo("UTC")
        values = {
            "minutes": minutes,
            "time": f"{timezone.localtime(self.until, zone):%H:%M} {zone.key}",
        }
        if self.known_browser:
            return (
                ngettext(
                    "Too many wrong codes from this browser. "
                    "Try again in %(minutes)d minute (at %(time)s).",
                    "Too many wrong codes from this browser. "
                    "Try again in %(minutes)d minutes (at %(time)s).",
                    minutes,
                )
                % values
            )
        return (
            ngettext(
                "Too many wrong codes from browsers not used with this account before. Try again "
                "in %(minutes)d minute (at %(time)s), or from a browser you have logged in with.",
                "Too many wrong codes from browsers not used with this account before. Try again "
                "in %(minutes)d minutes (at %(time)s), or from a browser you have logged in with.",
                minutes,
            )
            % values
        )


def _known_device(user: User, device_key: str | None) -> KnownDevice | None:
    if not device_key:
        return None
    return KnownDevice.objects.filter(user=user, key_hash=device_key_hash(device_key)).first()


@transaction.atomic
def otp_check(*, user: User, token: str, ip: str | None, device_key: str | None) -> OTPResult:
    """Check a second-factor code (TOTP first, then a backup code) under the throttle. Every
    code check (login, step-up, password reset) goes through here.

    The throttle counts wrong codes by where they come from, so that a password holder cannot
    lock the real officer out (django-otp's back-off per device let one wrong code from anywhere
    refuse everyone's right code). A bucket is a browser that completed a login for this
    account (its signed device cookie, `device_key`, matches one of the account's KnownDevice
    rows), or else one bucket shared by every other browser. A cookie cannot be forged and is
    only issued after a full login, so an attacker's guesses all land in the shared bucket;
    the officer on their usual browser has their own. Each bucket allows
    PORTAL_OTP_FAILURES_PER_HOUR wrong codes in a rolling hour (backup codes and TOTP alike:
    a guess is a guess), so an attacker's guessing stays within that cap.

    1. Lock the user row: one account's checks run one at a time, so parallel guesses cannot
       all pass the count.
    2. Find the bucket.
    3. With the cap reached in the bucket's last hour, do not check the code: return the wait,
       until enough of those failures leave the window.
    4. Otherwise try each device; record a wrong code (OTPFailure for the throttle,
       LOGIN_FAILED_OTP for the audit) and delete this account's failures past the window.
    """
    User.objects.select_for_update().only("pk").get(pk=user.pk)
    known = _known_device(user, device_key)
    now = timezone.now()
    cap = settings.PORTAL_OTP_FAILURES_PER_HOUR
    recent = list(
        OTPFailure.objects.filter(user=user, known_device=known, at__gt=now - OTP_WINDOW)
        .order_by("-at")
        .values_list("at", flat=True)[:cap]
    )
    if len(recent) >= cap:
        until = recent[cap - 1] + OTP_WINDOW
        return OTPResult(
            wait=until - now, until=until, known_browser=known is not None, time_zone=user.time_zone
        )
    token = (token or "").strip().replace(" ", "")
    for device in confirmed_devices(user):
        if device.verify_token(token):
            if isinstance(device, BackupCodeDevice):
                account_event_record(user=user, kind=AccountEvent.Kind.BACKUP_CODE_USED, ip=ip)
            return OTPResult(device=device, known_browser=known is not None)
    OTPFailure.objects.create(user=user, known_device=known, at=now)
    OTPFailure.objects.filter(user=user, at__lte=now - OTP_WINDOW).delete()
    account_event_record(user=user, kind=AccountEvent.Kind.LOGIN_FAILED_OTP, ip=ip)
    if known is None and len(recent) + 1 >= cap:
        _warn_owner_of_guessing(user=user, ip=ip, now=now)
    return OTPResult(known_browser=known is not None, time_zone=user.time_zone)


GUESSING_WARNING_EVERY = timedelta(hours=24)


def _warn_owner_of_guessing(*, user: User, ip: str | None, now: datetime) -> None:
    """Browsers this account never logged in with have used up their wrong codes: whoever sent
    them had the password (the code is asked only after it). Tell the owner to change it; once
    a day at most, so a patient attacker does not flood the mailbox."""
    if AccountEvent.objects.filter(
        user=user, kind=AccountEvent.Kind.OTP_GUESSING, at__gt=now - GUESSING_WARNING_EVERY
    ).exists():
        return
    account_event_record(user=user, kind=AccountEvent.Kind.OTP_GUESSING, ip=ip)
    mail_owner(
        user,
        "otp_guessing",
        when=local_time(now, user.time_zone),
        ip=ip or "unknown",
        reset_url=absolute_url(reverse("authorities:password_reset")),
    )


@transaction.atomic
def otp_reset_by_staff(*, user: User, staff: User, identity_check: IdentityCheck) -> None:
    """Remove every second factor of a user (lost phone), after a confirmed call-back
    (identity_check_record). The user sets up a new one at the next login; an officer's account
    then awaits approval by another staff member (officer_approve), so a password reset by
    whoever reads the officer's mail leads to nothing of theirs. Only staff, never on their own
    account."""
    check_staff_acts_on_other(staff=staff, user=user)
    fresh = timezone.now() - IDENTITY_CHECK_VALID
    if not (
        identity_check.user_id == user.pk
        and identity_check.checked_by_id == staff.pk
        and identity_check.outcome == IdentityCheck.Outcome.CONFIRMED
        and identity_check.checked_at >= fresh
    ):
        raise ValidationError(
            gettext(
                "A second factor is reset only after a call-back on the registry number that "
                "confirmed the person's identity."
            )
        )
    user = User.objects.select_for_update().get(pk=user.pk)
    TOTPDevice.objects.filter(user=user).delete()
    BackupCodeDevice.objects.filter(user=user).delete()
    WebAuthnCredential.objects.filter(user=user).delete()  # passkeys too: every second factor
    user.second_factor_reset_by = staff
    fields = ["second_factor_reset_by"]
    if user.is_officer:
        user.approved_at, user.approved_by = None, None
        fields += ["approved_at", "approved_by"]
    user.save(update_fields=fields)
    called = identity_check.phone_called or "no registry number"
    account_event_record(
        user=user,
        kind=AccountEvent.Kind.OTP_RESET,
        actor=staff,
        detail=f"After identity check {identity_check.pk} (call-back to {called}); "
        "awaiting approval by another staff member",
    )
    mail_owner(user, "otp_reset", staff=staff)


@transaction.atomic
def otp_replace(*, user: User, ip: str | None) -> None:
    """The user replaces their second factor (after a fresh code): the old devices go, the
    next page is the enrolment, and the owner is told by e-mail."""
    TOTPDevice.objects.filter(user=user).delete()
    BackupCodeDevice.objects.filter(user=user).delete()
    account_event_record(user=user, kind=AccountEvent.Kind.OTP_REPLACED, ip=ip)
    mail_owner(user, "otp_changed")
