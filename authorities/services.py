"""Actions that change the registry and officers' accounts. Each is atomic and leaves a record."""

import getpass
import hashlib
import math
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext, gettext_lazy, ngettext
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from portal.emails import absolute_url, local_time, send_now

from .constants import OUTSIDE_EU_MESSAGE, AuthorityStatus, time_zone_choices
from .domains import MailboxError, plain_mailbox
from .models import (
    AccountEvent,
    Authority,
    AuthorityDomain,
    BackupCodeDevice,
    IdentityCheck,
    KnownDevice,
    OTPFailure,
    RegistryChange,
    RegistryImport,
    User,
)
from .registry import RegistryEntry, RegistryFileError, parse_registry
from .selectors import authority_for_email

# --- Registry ---------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    suspended: int = 0
    details: list[str] = field(default_factory=list)
    record: RegistryImport | None = None


def _authority_snapshot(authority: Authority) -> dict:
    values = {
        "name": authority.name,
        "name_en": authority.name_en,
        "country": authority.country,
        "kind": authority.kind,
        "instruments": sorted(authority.instruments),
        "callback_phone": authority.callback_phone,
        "source_list": authority.source_list,
        "source_reference": authority.source_reference,
        "source_checked": str(authority.source_checked),
        "status": authority.status,
        "status_reason": authority.status_reason,
    }
    values["domains"] = sorted(authority.domains.values_list("domain", flat=True))
    return values


def _entry_snapshot(entry: RegistryEntry) -> dict:
    values = entry.authority_fields()
    values["instruments"] = sorted(values["instruments"])
    values["source_checked"] = str(values["source_checked"])
    values["domains"] = sorted(entry.domains)
    return values


def _diff(old: dict, new: dict) -> dict:
    return {key: [old.get(key), new[key]] for key in new if old.get(key) != new[key]}


@transaction.atomic
def registry_import(
    *, raw: bytes, file_name: str, full: bool = False, imported_by: str | None = None
) -> ImportSummary:
    """Load a registry file. All or nothing: any problem raises RegistryFileError and the
    transaction leaves the registry as it was.

    1. Parse and check the file on its own (parse_registry).
    2. Check it against the database: a domain it gives to one authority may not belong to
       another authority that the file does not mention.
    3. Create or update each authority and its domains, recording a RegistryChange per change.
    4. With `full`, suspend active authorities missing from the file (never delete them).
    5. Record the import (who, when, SHA-256, counts).
    """
    registry = parse_registry(raw)
    imported_by = imported_by or getpass.getuser()
    now = timezone.now()
    file_ids = {entry.id for entry in registry.entries}

    foreign_domains = AuthorityDomain.objects.filter(
        domain__in=[d for entry in registry.entries for d in entry.domains]
    ).exclude(authority_id__in=file_ids)
    conflicts = [
        f"entry ({_owner_entry(registry.entries, row.domain)}): field 'domains': "
        f"{row.domain!r} is already claimed by {row.authority_id} in the registry"
        for row in foreign_domains
    ]
    if conflicts:
        raise RegistryFileError(conflicts)

    record = RegistryImport.objects.create(
        imported_at=now,
        imported_by=imported_by,
        file_name=file_name,
        sha256=hashlib.sha256(raw).hexdigest(),
        version=registry.version,
        full=full,
    )
    summary = ImportSummary(record=record)
    existing = {a.pk: a for a in Authority.objects.select_for_update().filter(pk__in=file_ids)}
    # Domains move between authorities in the file: drop them all first, then re-add per entry,
    # so the unique constraint never sees a domain on two authorities mid-import.
    old_snapshots = {pk: _authority_snapshot(a) for pk, a in existing.items()}
    AuthorityDomain.objects.filter(authority_id__in=file_ids).delete()

    for entry in registry.entries:
        authority = existing.get(entry.id)
        new_values = _entry_snapshot(entry)
        if authority is None:
            authority = Authority.objects.create(
                id=entry.id, status_changed_at=now, **entry.authority_fields()
            )
            changes = {"created": True, **{k: [None, v] for k, v in new_values.items()}}
            summary.added += 1
            summary.details.append(f"added {entry.id}")
        else:
            changes = _diff(old_snapshots[entry.id], new_values)
            if changes:
                for name, value in entry.authority_fields().items():
                    setattr(authority, name, value)
                if "status" in changes:
                    authority.status_changed_at = now
                authority.save()
                if "status" in changes and entry.status != AuthorityStatus.ACTIVE:
                    summary.suspended += 1
                    summary.details.append(f"{entry.status} {entry.id}")
                else:
                    summary.changed += 1
                    summary.details.append(f"changed {entry.id}: {', '.join(sorted(changes))}")
            else:
                summary.unchanged += 1
        AuthorityDomain.objects.bulk_create(
            AuthorityDomain(domain=d, authority=authority) for d in entry.domains
        )
        if changes:
            RegistryChange.objects.create(
                authority=authority,
                changed_at=now,
                changed_by=imported_by,
                origin=RegistryChange.Origin.IMPORT,
                registry_import=record,
                changes=changes,
            )

    if full:
        missing = Authority.objects.select_for_update().filter(status=AuthorityStatus.ACTIVE)
        for authority in missing.exclude(pk__in=file_ids):
            reason = f"Not in the full registry file {file_name} (version {registry.version})."
            authority.status = AuthorityStatus.SUSPENDED
            authority.status_reason = reason
            authority.status_changed_at = now
            authority.save(update_fields=["status", "status_reason", "status_changed_at"])
            RegistryChange.objects.create(
                authority=authority,
                changed_at=now,
                changed_by=imported_by,
                origin=RegistryChange.Origin.IMPORT,
                registry_import=record,
                changes={"status": [AuthorityStatus.ACTIVE, AuthorityStatus.SUSPENDED]},
            )
            summary.suspended += 1
            summary.details.append(f"suspended {authority.pk} (missing from the full file)")

    record.added, record.changed = summary.added, summary.changed
    record.unchanged, record.suspended = summary.unchanged, summary.suspended
    record.save(update_fields=["added", "changed", "unchanged", "suspended"])
    return summary


def _owner_entry(entries: list[RegistryEntry], domain: str) -> str:
    return next(entry.id for entry in entries if domain in entry.domains)


def registry_change_record(*, authority: Authority, before: dict, by: User) -> None:
    """Record a staff edit made in the admin (`before` is _authority_snapshot taken earlier)."""
    changes = _diff(before, _authority_snapshot(authority))
    if changes:
        RegistryChange.objects.create(
            authority=authority,
            changed_by=by.email,
            origin=RegistryChange.Origin.ADMIN,
            changes=changes,
        )


authority_snapshot = _authority_snapshot


# --- Officer accounts -------------------------------------------------------------------------

EMAIL_VERIFICATION_SALT = "authorities.email-verification"


class SignUpRefused(Exception):
    pass


def account_event_record(
    *, user: User, kind: str, actor: User | None = None, ip: str | None = None, detail: str = ""
) -> AccountEvent:
    return AccountEvent.objects.create(
        user=user, kind=kind, actor=actor, ip_address=ip, detail=detail[:500]
    )


def mail_owner(user: User, template: str, **context) -> None:
    """E-mail the account's owner, in their language, once the transaction commits (nothing is
    sent for a change that is rolled back)."""
    transaction.on_commit(
        lambda: send_now(
            to=[user.email],
            template=template,
            context={"user": user, **context},
            language=user.preferred_language,
        )
    )


def email_verification_token(user: User) -> str:
    return signing.dumps({"u": user.pk, "e": user.email}, salt=EMAIL_VERIFICATION_SALT)


@transaction.atomic
def officer_sign_up(*, email: str, full_name: str, ip: str | None, language: str = "en") -> None:
    """Create an officer account for an official e-mail of an active registry authority and
    send the verification link. The outcome the caller shows is the same whether or not an
    account exists (a known address gets an e-mail instead), so sign-up reveals nothing.
    Raises SignUpRefused for an address outside the registry or not a plain mailbox; nothing
    is created then. `language` (the one the sign-up page was shown in) becomes the account's.

    No password is taken here: the account starts with an unusable one, and the password is
    chosen on the page the link opens (officer_verify_email). So whoever signs up an address
    first holds no credential of it, and every path (new, pending, verified address) does the
    same work: no password hashing, one e-mail."""
    try:
        email = plain_mailbox(email)
    except MailboxError as problem:
        raise SignUpRefused(str(problem)) from None
    authority = authority_for_email(email)
    if authority is None:
        raise SignUpRefused(str(OUTSIDE_EU_MESSAGE))
    full_name = full_name.strip()
    language = language if language in dict(settings.LANGUAGES) else "en"
    existing = User.objects.filter(email=email).first()
    if existing is not None and existing.email_verified_at is not None:
        mail_owner(
            existing,
            "account_exists",
            reset_url=absolute_url(reverse("authorities:password_reset")),
        )
        return
    if existing is not None:
        # Still pending: a new link, greeting the name typed this time. Nothing secret is kept
        # from the earlier sign-up (there is none); whoever opens a link sets the password.
        User.objects.filter(pk=existing.pk, email_verified_at__isnull=True).update(
            full_name=full_name, preferred_language=language
        )
        existing.refresh_from_db()
        user = existing
    else:
        user = User.objects.create_user(
            email=email,
            password=None,  # unusable: set_unusable_password() hashes nothing
            full_name=full_name,
            authority=authority,
            preferred_language=language,
        )
    account_event_record(user=user, kind=AccountEvent.Kind.SIGNED_UP, ip=ip, detail=authority.pk)
    _send_verification(user)


def _send_verification(user: User) -> None:
    link = absolute_url(reverse("authorities:verify_email", args=[email_verification_token(user)]))
    hours = settings.PORTAL_EMAIL_LINK_HOURS
    mail_owner(user, "verify_email", link=link, hours=hours)


class InvalidLink(Exception):
    pass


def email_verification_user(token: str) -> User:
    """The account a verification link is for, if the link is genuine, fresh and unused."""
    try:
        data = signing.loads(
            token, salt=EMAIL_VERIFICATION_SALT, max_age=settings.PORTAL_EMAIL_LINK_HOURS * 3600
        )
    except signing.SignatureExpired:
        raise InvalidLink(
            gettext("This link has expired. Sign up again to get a new one.")
        ) from None
    except signing.BadSignature:
        raise InvalidLink(gettext("This link is not valid.")) from None
    user = User.objects.filter(pk=data.get("u"), email=data.get("e")).first()
    if user is None:
        raise InvalidLink(gettext("This link is not valid."))
    if user.email_verified_at is not None:
        raise InvalidLink(gettext("This link has already been used. You can log in."))
    return user


@transaction.atomic
def officer_verify_email(*, token: str, password: str, full_name: str, ip: str | None) -> User:
    """Confirm the address and set the account's password and name, in one step: opening the
    link proves control of the mailbox, so its holder is the one who chooses the credential.
    The caller has validated the password (the link page's form)."""
    user = email_verification_user(token)
    # Single use: the conditional update succeeds for exactly one submission of any link of the
    # account; the password is set by the same statement, so no earlier credential survives.
    updated = User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(
        email_verified_at=timezone.now(),
        password=make_password(password),
        full_name=full_name.strip(),
    )
    if updated != 1:
        raise InvalidLink(gettext("This link has already been used. You can log in."))
    # A pending account cannot log in, so it has no second factor; if one was left by anything
    # else (staff cleared the verification in the admin, say), it is not the mailbox holder's.
    TOTPDevice.objects.filter(user=user).delete()
    BackupCodeDevice.objects.filter(user=user).delete()
    account_event_record(user=user, kind=AccountEvent.Kind.EMAIL_VERIFIED, ip=ip)
    user.refresh_from_db()
    return user


def _check_may_approve(*, approver: User, officer: User) -> None:
    if approver.is_staff:
        return
    if (
        approver.is_authority_contact
        and approver.is_approved
        and approver.authority_id == officer.authority_id
        and approver.pk != officer.pk
    ):
        return
    raise PermissionDenied(gettext("Only platform staff or this authority's contact may approve."))


@transaction.atomic
def officer_approve(*, officer: User, approver: User) -> User:
    _check_may_approve(approver=approver, officer=officer)
    officer = User.objects.select_for_update().get(pk=officer.pk)
    if not officer.is_officer:
        raise ValidationError(gettext("Only officer accounts are approved."))
    if officer.email_verified_at is None:
        raise ValidationError(gettext("The officer has not verified their e-mail address yet."))
    if officer.authority.status != AuthorityStatus.ACTIVE:
        raise ValidationError(gettext("The officer's authority is not active in the registry."))
    if officer.awaits_reinstatement:
        _check_may_reinstate(user=officer, approver=approver)
    if officer.approved_at is not None:
        return officer
    officer.approved_at = timezone.now()
    officer.approved_by = approver
    officer.second_factor_reset_by = None
    officer.save(update_fields=["approved_at", "approved_by", "second_factor_reset_by"])
    account_event_record(user=officer, kind=AccountEvent.Kind.APPROVED, actor=approver)
    mail_owner(officer, "officer_approved", login_url=absolute_url(reverse("authorities:login")))
    return officer


def _check_may_reinstate(*, user: User, approver: User) -> None:
    # Staff reset the second factor after a call-back: whoever reads the account's mail can now
    # set a password and enrol, so a second staff member, not the one who reset it nor an
    # authority contact, checks the account again once a new factor is enrolled.
    if not approver.is_staff or approver.pk in (user.second_factor_reset_by_id, user.pk):
        raise PermissionDenied(
            gettext(
                "After a staff reset of the second factor, the account is approved by a "
                "staff member other than the one who reset it."
            )
        )
    if not has_second_factor(user):
        raise ValidationError(gettext("The officer has not set up a new second factor yet."))


@transaction.atomic
def platform_account_reinstate(*, user: User, approver: User) -> User:
    """A platform account (legal team, staff) after a staff reset of its second factor: its
    roles and the admin are back once another staff member has checked it (what officer_approve
    does for an officer)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_officer:
        raise ValidationError(gettext("Officers are approved, not reinstated."))
    if not user.awaits_reinstatement:
        return user
    _check_may_reinstate(user=user, approver=approver)
    user.second_factor_reset_by = None
    user.save(update_fields=["second_factor_reset_by"])
    account_event_record(user=user, kind=AccountEvent.Kind.APPROVED, actor=approver)
    mail_owner(user, "account_reinstated", login_url=absolute_url(reverse("authorities:login")))
    return user


@transaction.atomic
def officer_revoke_approval(*, officer: User, approver: User, reason: str) -> User:
    _check_may_approve(approver=approver, officer=officer)
    officer = User.objects.select_for_update().get(pk=officer.pk)
    officer.approved_at = None
    officer.approved_by = None
    officer.save(update_fields=["approved_at", "approved_by"])
    account_event_record(
        user=officer, kind=AccountEvent.Kind.APPROVAL_REVOKED, actor=approver, detail=reason
    )
    return officer


# --- Second factor ----------------------------------------------------------------------------


def totp_device_for_enrolment(user: User) -> TOTPDevice:
    """The user's unconfirmed TOTP device, created on first call; the same key until confirmed,
    so reloading the enrolment page does not invalidate a QR code already scanned."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def confirmed_devices(user: User) -> list:
    return [
        *TOTPDevice.objects.filter(user=user, confirmed=True),
        *BackupCodeDevice.objects.filter(user=user, confirmed=True),
    ]


def has_second_factor(user: User) -> bool:
    # The authenticator app everyone enrols at first login. Passkeys are added on top of it from
    # the account page (authorities.passkeys), so they never replace this first factor; and
    # confirmed_devices() lists the devices that take a typed code, which passkeys do not.
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


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
    return KnownDevice.objects.filter(user=user, key_hash=_device_hash(device_key)).first()


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
    _check_staff_acts_on_other(staff=staff, user=user)
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


# --- Devices, step-up and account changes -------------------------------------------------------

DEVICE_COOKIE = "portal_device"
EMAIL_CHANGE_SALT = "authorities.email-change"


def _device_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def login_device_seen(
    *, user: User, device_key: str | None, ip: str | None, user_agent: str
) -> str:
    """Record the browser of a completed login; return its key (new if it had none). A login
    from a browser this account never used e-mails the owner (but not the very first login)."""
    import secrets

    key = device_key or secrets.token_urlsafe(24)
    known = KnownDevice.objects.filter(user=user, key_hash=_device_hash(key)).first()
    if known is not None:
        KnownDevice.objects.filter(pk=known.pk).update(last_seen=timezone.now(), ip_address=ip)
        return key
    first_ever = not KnownDevice.objects.filter(user=user).exists()
    KnownDevice.objects.create(
        user=user, key_hash=_device_hash(key), user_agent=user_agent[:300], ip_address=ip
    )
    if not first_ever:
        account_event_record(
            user=user, kind=AccountEvent.Kind.NEW_DEVICE, ip=ip, detail=user_agent[:200]
        )
        when = local_time(timezone.now(), user.time_zone)
        mail_owner(user, "new_device_login", when=when, ip=ip or "unknown", agent=user_agent[:200])
    return key


def email_change_request(*, user: User, new_email: str, ip: str | None) -> None:
    """Send a confirmation link to the new address (the caller has checked a fresh second
    factor). An officer's new address must belong to the same authority in the registry, and
    be a plain mailbox, as at sign-up (an alias would be a second account of one mailbox)."""
    try:
        new_email = plain_mailbox(new_email)
    except MailboxError as problem:
        raise ValidationError(str(problem)) from None
    if User.objects.filter(email=new_email).exclude(pk=user.pk).exists() or new_email == user.email:
        raise ValidationError(gettext("This address cannot be used."))
    if user.is_officer:
        authority = authority_for_email(new_email)
        if authority is None or authority.pk != user.authority_id:
            raise ValidationError(
                gettext(
                    "The new address must be an official address of your authority in the registry."
                )
            )
    token = signing.dumps(
        {"u": user.pk, "old": user.email, "new": new_email}, salt=EMAIL_CHANGE_SALT
    )
    link = absolute_url(reverse("authorities:email_confirm", args=[token]))
    account_event_record(
        user=user, kind=AccountEvent.Kind.EMAIL_CHANGE_ASKED, ip=ip, detail=new_email
    )
    send_now(
        to=[new_email],
        template="email_change",
        language=user.preferred_language,
        context={"user": user, "link": link, "hours": settings.PORTAL_EMAIL_LINK_HOURS},
    )
    send_now(
        to=[user.email],
        template="email_change_notice",
        language=user.preferred_language,
        context={"user": user, "new_email": new_email},
    )


@transaction.atomic
def email_change_confirm(*, user: User, token: str, ip: str | None) -> User:
    try:
        data = signing.loads(
            token, salt=EMAIL_CHANGE_SALT, max_age=settings.PORTAL_EMAIL_LINK_HOURS * 3600
        )
    except signing.BadSignature:
        raise InvalidLink(gettext("This link is not valid or has expired.")) from None
    # Single use and bound to the account: it works only while the old address is current,
    # and while no other account has taken the new one since the link was sent (the unique
    # e-mail refused the update: an IntegrityError, a 500).
    taken = User.objects.filter(email=data.get("new")).exclude(pk=user.pk).exists()
    updated = (
        0
        if taken
        else User.objects.filter(pk=user.pk, email=data.get("old")).update(
            email=data["new"], email_verified_at=timezone.now()
        )
    )
    if data.get("u") != user.pk or updated != 1:
        raise InvalidLink(gettext("This link is not valid any more."))
    account_event_record(
        user=user,
        kind=AccountEvent.Kind.EMAIL_CHANGED,
        ip=ip,
        detail=f"{data['old']} -> {data['new']}",
    )
    user.refresh_from_db()
    return user


@transaction.atomic
def otp_replace(*, user: User, ip: str | None) -> None:
    """The user replaces their second factor (after a fresh code): the old devices go, the
    next page is the enrolment, and the owner is told by e-mail."""
    TOTPDevice.objects.filter(user=user).delete()
    BackupCodeDevice.objects.filter(user=user).delete()
    account_event_record(user=user, kind=AccountEvent.Kind.OTP_REPLACED, ip=ip)
    mail_owner(user, "otp_changed")


def user_preferences_update(
    *, user: User, language: str | None = None, time_zone: str | None = None
) -> User:
    """The account's language (pages after login, e-mails) and time zone (times shown).
    Values outside settings.LANGUAGES or the offered zones are ignored."""
    fields = []
    if language in dict(settings.LANGUAGES):
        user.preferred_language = language
        fields.append("preferred_language")
    if time_zone in dict(time_zone_choices()):
        user.time_zone = time_zone
        fields.append("time_zone")
    if fields:
        user.save(update_fields=fields)
    return user


# --- Staff actions on accounts ------------------------------------------------------------------
# No staff path sets or sees a password, and every staff action on an account is an AccountEvent
# (hash-chained) e-mailed to the account's owner.

IDENTITY_CHECK_VALID = timedelta(hours=1)

# What staff may change on a user in the admin, with the label the owner reads in the e-mail.
STAFF_EDITABLE = {
    "full_name": gettext_lazy("Full name"),
    "is_active": gettext_lazy("Account active"),
    "is_authority_contact": gettext_lazy("Authority contact (approves your authority's officers)"),
    "is_staff": gettext_lazy("Platform staff"),
    "is_superuser": gettext_lazy("Administrator rights"),
    "groups": gettext_lazy("Platform roles"),
}


def _check_staff_acts_on_other(*, staff: User, user: User) -> None:
    if not staff.is_staff or staff.pk == user.pk:
        raise PermissionDenied(gettext("Only another staff member may do this."))


@transaction.atomic
def identity_check_record(*, user: User, staff: User, outcome: str, note: str) -> IdentityCheck:
    """Record a call-back to the account's owner on the registry number of their authority
    (never a number typed by staff or given by the caller): who called, when, what came of it.
    An outcome other than "confirmed" is recorded too, and the owner is told."""
    _check_staff_acts_on_other(staff=staff, user=user)
    if outcome not in IdentityCheck.Outcome.values:
        raise ValidationError("Unknown outcome.")
    authority = user.authority
    check = IdentityCheck.objects.create(
        user=user,
        checked_by=staff,
        authority=authority,
        phone_called=authority.callback_phone if authority else "",
        outcome=outcome,
        note=note[:500],
    )
    account_event_record(
        user=user,
        kind=AccountEvent.Kind.IDENTITY_CHECK,
        actor=staff,
        detail=f"Check {check.pk}: call-back to {check.phone_called or 'no registry number'}, "
        f"{outcome}",
    )
    if outcome != IdentityCheck.Outcome.CONFIRMED:
        mail_owner(user, "identity_check_failed", phone=check.phone_called)
    return check


def staff_snapshot(user: User) -> dict:
    """The values of what staff may change (STAFF_EDITABLE), to diff before and after an edit."""
    values = {name: getattr(user, name) for name in STAFF_EDITABLE if name != "groups"}
    values["groups"] = sorted(user.groups.values_list("name", flat=True)) if user.pk else []
    return values


@transaction.atomic
def staff_change_record(*, user: User, staff: User, before: dict) -> list[str]:
    """Record a staff edit of an account made in the admin (`before` is staff_snapshot taken
    before it) and tell the owner what changed. Returns the changed fields."""
    after = staff_snapshot(user)
    changed = [name for name in STAFF_EDITABLE if before.get(name) != after[name]]
    if changed:
        account_event_record(
            user=user,
            kind=AccountEvent.Kind.CHANGED_BY_STAFF,
            actor=staff,
            detail="; ".join(
                f"{name}: {before.get(name)!r} -> {after[name]!r}" for name in changed
            ),
        )
        mail_owner(
            user, "account_changed_by_staff", changes=[STAFF_EDITABLE[name] for name in changed]
        )
    return changed


@transaction.atomic
def staff_account_created(*, user: User, staff: User) -> None:
    """A platform account added by staff in the admin: it has no usable password; its owner
    chooses one through a password-set link sent to its address (staff never know it)."""
    if user.has_usable_password():
        raise ValidationError("Staff do not set passwords.")
    account_event_record(user=user, kind=AccountEvent.Kind.CREATED_BY_STAFF, actor=staff)
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    link = absolute_url(
        reverse(
            "authorities:password_reset_confirm",
            args=[uid, default_token_generator.make_token(user)],
        )
    )
    mail_owner(user, "account_created", link=link, staff=staff)
