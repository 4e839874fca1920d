import hashlib
import hmac
import secrets
from datetime import UTC

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django_otp.models import Device

from portal.audit_chain import HashChainedModel
from portal.choices import ChoiceLabels

from .constants import (
    COUNTRY_CHOICES,
    AuthorityKind,
    AuthorityStatus,
    Instrument,
    time_zone_choices,
)


class Authority(ChoiceLabels, models.Model):
    """An EU competent authority as the registry file describes it. Never deleted: an authority
    that leaves the registry is suspended, so its officers' requests keep their issuer."""

    id = models.CharField("registry id", max_length=40, primary_key=True)
    name = models.CharField("official name", max_length=300)
    name_en = models.CharField("English name", max_length=300)
    country = models.CharField("Member State", max_length=2, choices=COUNTRY_CHOICES)
    kind = models.CharField(max_length=30, choices=AuthorityKind.choices)
    # Instrument codes (authorities.constants.Instrument); a JSON list so SQLite also runs it.
    instruments = models.JSONField(default=list)
    callback_phone = models.CharField(
        "call-back phone (E.164)",
        max_length=20,
        help_text="Taken from the official source; the only number used to call back.",
    )
    source_list = models.CharField("official list", max_length=200)
    source_reference = models.CharField("reference or URL", max_length=500)
    source_checked = models.DateField("source checked on")
    status = models.CharField(
        max_length=20, choices=AuthorityStatus.choices, default=AuthorityStatus.ACTIVE
    )
    status_reason = models.CharField(max_length=500, blank=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    colleagues_see_requests = models.BooleanField(
        default=False,
        help_text="Officers of this authority see each other's requests, not only their own.",
    )
    # e-Evidence Art. 8: may act as the enforcing authority of its Member State (the one of
    # settings.PORTAL_ENFORCING_STATE is notified of production orders and may refuse them).
    enforcing = models.BooleanField(
        "enforcing authority",
        default=False,
        help_text="May act as the enforcing authority under e-Evidence Art. 8 (registry file).",
    )
    # Not in the registry file: staff learn them from the authority (its seal's certificate).
    signing_identifiers = models.JSONField(
        "signing identifiers",
        default=list,
        blank=True,
        help_text=(
            "Organisation names (O) or identifiers (organizationIdentifier, e.g. "
            "LEGFR-12345678) in the certificates that sign this authority's orders, one per "
            "line. The official and English names always count."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["country", "name_en"]
        verbose_name_plural = "authorities"

    def __str__(self) -> str:
        return f"{self.name_en} ({self.id})"

    @property
    def is_active(self) -> bool:
        return self.status == AuthorityStatus.ACTIVE

    def may_issue(self, instrument: str) -> bool:
        return instrument in self.instruments


class AuthorityDomain(models.Model):
    """An official e-mail domain. Unique across the registry: a domain names one authority."""

    domain = models.CharField(max_length=253, unique=True)
    authority = models.ForeignKey(Authority, on_delete=models.CASCADE, related_name="domains")

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class RegistryImport(models.Model):
    """One run of import_registry: who, when, which file (by SHA-256) and what it changed."""

    imported_at = models.DateTimeField(default=timezone.now)
    imported_by = models.CharField(max_length=150)
    file_name = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    version = models.CharField(max_length=100)
    full = models.BooleanField(default=False)
    added = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    suspended = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-imported_at"]

    def __str__(self) -> str:
        return f"{self.file_name} {self.sha256[:12]} @ {self.imported_at:%Y-%m-%d %H:%M}"


class RegistryChange(models.Model):
    """Every change to an authority, from an import or from the admin: who, when, old -> new."""

    class Origin(models.TextChoices):
        IMPORT = "import", "Registry import"
        ADMIN = "admin", "Staff edit"

    authority = models.ForeignKey(Authority, on_delete=models.PROTECT, related_name="changes")
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.CharField(max_length=150)
    origin = models.CharField(max_length=10, choices=Origin.choices)
    registry_import = models.ForeignKey(
        RegistryImport, null=True, blank=True, on_delete=models.PROTECT, related_name="changes"
    )
    # {"field": [old, new], ...}; {"created": true} for a new authority.
    changes = models.JSONField()

    class Meta:
        ordering = ["-changed_at"]

    def __str__(self) -> str:
        return f"{self.authority_id} {self.origin} {self.changed_at:%Y-%m-%d %H:%M}"

    def in_words(self) -> list[str]:
        """The change as staff read it, one line per field: "Instruments: added European
        Production Order (EPOC); removed …", "Status: Active → Suspended". `changes` keeps
        the codes (the evidence); this is only how they are shown."""
        changes = self.changes if isinstance(self.changes, dict) else {}
        if changes.get("created"):
            lines = [gettext("Added to the registry")]
            for name, (_old, new) in _recorded_fields(changes):
                if new not in (None, "", []):
                    lines.append(f"{_field_label(name)}: {_shown(name, new)}")
            return lines
        lines = []
        for name, (old, new) in _recorded_fields(changes):
            if isinstance(old, list) and isinstance(new, list):
                parts = []
                if added := [v for v in new if v not in old]:
                    parts.append(gettext("added %s") % _shown(name, added))
                if removed := [v for v in old if v not in new]:
                    parts.append(gettext("removed %s") % _shown(name, removed))
                lines.append(f"{_field_label(name)}: {'; '.join(parts)}")
            else:
                lines.append(f"{_field_label(name)}: {_shown(name, old)} → {_shown(name, new)}")
        return lines


def _recorded_fields(changes: dict) -> list[tuple[str, list]]:
    """The {"field": [old, new]} pairs in the order of the authority's page (PostgreSQL's jsonb
    keeps no key order). Anything else (a hand-edited row) is left out rather than failing."""
    order = [field.name for field in Authority._meta.fields] + ["domains"]
    pairs = [
        (name, pair) for name, pair in changes.items() if isinstance(pair, list) and len(pair) == 2
    ]
    return sorted(pairs, key=lambda item: order.index(item[0]) if item[0] in order else len(order))


def _field_label(name: str) -> str:
    if name == "domains":
        return gettext("Official e-mail domains")
    try:
        return capfirst(Authority._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


def _shown(name: str, value) -> str:
    """A recorded value as words: choice labels for codes, the items of a list."""
    if isinstance(value, list):
        return ", ".join(_shown(name, item) for item in value)
    if value is None or value == "":
        return gettext("(empty)")
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    choices = (
        dict(Instrument.choices) if name == "instruments" else dict(_authority_field_choices(name))
    )
    return str(choices.get(value, value))


def _authority_field_choices(name: str) -> list:
    try:
        field = Authority._meta.get_field(name)
    except FieldDoesNotExist:
        return []
    return getattr(field, "flatchoices", [])  # none on the domains' reverse relation


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """Everyone who logs in: officers (with an authority) and the platform's legal team and staff
    (without one; their roles are the groups `reviewer` and `lead`, and is_staff)."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200)
    authority = models.ForeignKey(
        Authority, null=True, blank=True, on_delete=models.PROTECT, related_name="officers"
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    is_authority_contact = models.BooleanField(
        default=False, help_text="May approve or revoke officers of their own authority."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set by a staff reset of the second factor (the account then awaits approval again) and
    # cleared by the approval, which must come from another staff member (accounts.officer_approve).
    second_factor_reset_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    preferred_language = models.CharField(max_length=8, default="en")
    # Times are stored in UTC and shown in this zone (portal.middleware.UserTimeZoneMiddleware).
    time_zone = models.CharField(max_length=64, default="UTC", choices=time_zone_choices)
    on_duty = models.BooleanField(
        default=True,
        help_text="Legal team: receives the alerts of unassigned requests while on duty.",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    @property
    def email_domain(self) -> str:
        return self.email.rsplit("@", 1)[1].lower()

    @property
    def is_officer(self) -> bool:
        return self.authority_id is not None

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None

    @property
    def awaits_reinstatement(self) -> bool:
        """Staff reset the second factor and no other staff member has checked the account
        since: an officer awaits approval; a platform account has no legal-team role or admin
        meanwhile (requests_app.roles, authorities.admin_site)."""
        return self.second_factor_reset_by_id is not None


class AccountEvent(HashChainedModel):
    """Security-relevant events of an account (sign-up, verification, approval, logins, second
    factor enrolment, every staff action on it), kept for the audit and the reviewers' evidence.
    Append-only and hash-chained like the access log (portal.audit_chain, verify_audit)."""

    chain_lock = 4_240_002  # pg_advisory_xact_lock key of this chain

    class Kind(models.TextChoices):
        SIGNED_UP = "signed_up", "Signed up"
        EMAIL_VERIFIED = "email_verified", "E-mail verified"
        APPROVED = "approved", "Approved"
        APPROVAL_REVOKED = "approval_revoked", "Approval revoked"
        LOGIN = "login", "Logged in with second factor"
        LOGIN_FAILED_OTP = "login_failed_otp", "Wrong second-factor code"
        OTP_ENROLLED = "otp_enrolled", "Second factor enrolled"
        OTP_RESET = "otp_reset", "Second factor reset by staff"
        BACKUP_CODE_USED = "backup_code_used", "Backup code used"
        PASSWORD_RESET = "password_reset", "Password reset"
        BLOCKED = "blocked", "Blocked by registry re-check"
        LOGOUT = "logout", "Logged out"
        NEW_DEVICE = "new_device", "Login from a new browser"
        EMAIL_CHANGE_ASKED = "email_change_asked", "E-mail change asked"
        EMAIL_CHANGED = "email_changed", "E-mail changed"
        OTP_REPLACED = "otp_replaced", "Second factor replaced by the user"
        IDENTITY_CHECK = "identity_check", "Identity checked by staff (call-back)"
        CHANGED_BY_STAFF = "changed_by_staff", "Account changed by staff"
        CREATED_BY_STAFF = "created_by_staff", "Account created by staff"
        PASSKEY_ADDED = "passkey_added", "Passkey added"
        PASSKEY_REMOVED = "passkey_removed", "Passkey removed"
        OTP_GUESSING = "otp_guessing", "Wrong codes from unknown browsers reached the cap"
        API_CLIENT = "api_client", "API client registered, approved or revoked"

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="account_events")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [
            # Account history and the reviewers' evidence panel: one user's events, newest first.
            models.Index(fields=["user", "-at"], name="account_event_user_at"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"

    def content(self) -> str:
        """The hashed content: every field but the id and the hashes (the backfill in
        migration 0005 hashes existing rows the same way)."""
        return "|".join(
            [
                self.at.astimezone(UTC).isoformat(),
                str(self.user_id),
                self.kind,
                str(self.actor_id or ""),
                self.ip_address or "",
                self.detail,
            ]
        )


class IdentityCheck(models.Model):
    """A staff call-back to an officer on the registry number of their authority, before a
    staff reset of their second factor: who called which number, when, and what came of it.
    Evidence: written once, never edited (the admin shows it read-only)."""

    class Outcome(models.TextChoices):
        CONFIRMED = "confirmed", "Reached; identity and the request for a reset confirmed"
        NOT_REACHED = "not_reached", "Not reached"
        NOT_CONFIRMED = "not_confirmed", "Reached; identity or the request NOT confirmed"

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="identity_checks")
    checked_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    checked_at = models.DateTimeField(default=timezone.now)
    # Copied from the registry at the time of the call (the registry may change later).
    authority = models.ForeignKey(
        Authority, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    phone_called = models.CharField(max_length=20, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    note = models.CharField(max_length=500)

    class Meta:
        ordering = ["-checked_at"]

    def __str__(self) -> str:
        return f"{self.user_id} {self.outcome} by {self.checked_by_id} {self.checked_at:%Y-%m-%d}"


def _backup_code_hash(salt: str, code: str) -> str:
    # Codes are 50 random bits, so a salted SHA-256 suffices (no slow KDF needed to resist
    # guessing, and ten PBKDF2 checks per attempt would make the login page slow).
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


class BackupCodeDevice(Device):
    """Single-use backup codes, stored hashed (django-otp's static device keeps them in clear).
    Not throttled here: wrong codes are counted with wrong TOTP codes by second_factor.otp_check
    (a guess is a guess), which is the only caller."""

    CODE_COUNT = 10

    def generate_codes(self) -> list[str]:
        """Replace all codes with new ones; return them in clear, to be shown once."""
        self.codes.all().delete()
        codes = [normalise_backup_code(secrets.token_hex(5)) for _ in range(self.CODE_COUNT)]
        for code in codes:
            salt = secrets.token_hex(8)
            self.codes.create(salt=salt, code_hash=_backup_code_hash(salt, code))
        return [f"{code[:5]}-{code[5:]}" for code in codes]

    def verify_token(self, token) -> bool:
        code = normalise_backup_code(str(token))
        for backup in self.codes.filter(used_at__isnull=True):
            if hmac.compare_digest(backup.code_hash, _backup_code_hash(backup.salt, code)):
                # Conditional update: two simultaneous logins with one code, only one wins.
                used = BackupCode.objects.filter(pk=backup.pk, used_at__isnull=True).update(
                    used_at=timezone.now()
                )
                if used == 1:
                    return True
        return False

    @property
    def remaining(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()

    def holds_unused(self, codes: list[str]) -> bool:
        """Whether every one of these codes (1 to CODE_COUNT, no repeats) is an unused code of
        this device. Nothing is used up: this is how the backup-codes download checks that it
        echoes only codes the page has just shown to their owner."""
        wanted = {normalise_backup_code(code) for code in codes}
        if not 0 < len(wanted) == len(codes) <= self.CODE_COUNT:
            return False
        unused = list(self.codes.filter(used_at__isnull=True))
        return all(
            any(
                hmac.compare_digest(backup.code_hash, _backup_code_hash(backup.salt, code))
                for backup in unused
            )
            for code in wanted
        )


def normalise_backup_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


class BackupCode(models.Model):
    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    salt = models.CharField(max_length=16)
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"backup code of device {self.device_id} ({'used' if self.used_at else 'unused'})"


class KnownDevice(models.Model):
    """A browser an account has completed a login from (a random id in a signed cookie, kept
    here hashed). A login from an unknown browser e-mails the account's owner."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="known_devices")
    key_hash = models.CharField(max_length=64)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    user_agent = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key_hash"], name="known_device_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} device {self.key_hash[:8]}"


class OTPFailure(models.Model):
    """A wrong second-factor code, in the throttle bucket it came from (second_factor.otp_check): a
    browser that completed a login for this account (known_device), or, for all other browsers
    together, none. Only the last hour counts; older rows are deleted as new ones are written."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    known_device = models.ForeignKey(
        KnownDevice, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # otp_check: one bucket's failures in the window, newest first.
            models.Index(fields=["user", "known_device", "-at"], name="otp_failure_bucket_at"),
        ]

    def __str__(self) -> str:
        bucket = f"device {self.known_device_id}" if self.known_device_id else "unknown browsers"
        return f"{self.user_id} wrong code from {bucket} {self.at:%Y-%m-%d %H:%M}"
