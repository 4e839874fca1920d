"""Actions on accounts: officers' sign-up, e-mail verification and approval, reinstatement
after a staff reset, preferences, and the staff actions on accounts made in the admin. Each is
atomic and leaves an AccountEvent."""

from datetime import timedelta

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
from django.utils.translation import gettext, gettext_lazy
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.emails import absolute_url, send_now

from .constants import (
    OUTSIDE_EU_MESSAGE,
    AuthorityStatus,
    member_state_zone,
    time_zone_choices,
)
from .domains import MailboxError, plain_mailbox
from .models import (
    AccountEvent,
    BackupCodeDevice,
    IdentityCheck,
    User,
)
from .selectors import authority_for_email, has_second_factor

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
            # A French officer's dates read in Paris time from the start (changeable in the
            # account page).
            time_zone=member_state_zone(authority.country),
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
    if user.approved_at is None:
        mail_staff_approval_waiting(user)
    return user


def mail_staff_approval_waiting(officer: User) -> None:
    """Tell every active staff member, each in their language, that an officer with a verified
    address waits for approval, with the link to the account's page (the registry evidence is
    there). Sent once the transaction commits."""
    link = absolute_url(reverse("admin:authorities_user_change", args=[officer.pk]))
    for staff in User.objects.filter(is_staff=True, is_active=True).exclude(pk=officer.pk):
        transaction.on_commit(
            lambda staff=staff: send_now(
                to=[staff.email],
                template="approval_waiting",
                context={"user": staff, "officer": officer, "link": link},
                language=staff.preferred_language,
            )
        )


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


def check_staff_acts_on_other(*, staff: User, user: User) -> None:
    if not staff.is_staff or staff.pk == user.pk:
        raise PermissionDenied(gettext("Only another staff member may do this."))


@transaction.atomic
def identity_check_record(*, user: User, staff: User, outcome: str, note: str) -> IdentityCheck:
    """Record a call-back to the account's owner on the registry number of their authority
    (never a number typed by staff or given by the caller): who called, when, what came of it.
    An outcome other than "confirmed" is recorded too, and the owner is told."""
    check_staff_acts_on_other(staff=staff, user=user)
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
    if user.authority_id and user.time_zone == "UTC":  # the model's default, not a choice
        user.time_zone = member_state_zone(user.authority.country)
        user.save(update_fields=["time_zone"])
    account_event_record(user=user, kind=AccountEvent.Kind.CREATED_BY_STAFF, actor=staff)
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    link = absolute_url(
        reverse(
            "authorities:password_reset_confirm",
            args=[uid, default_token_generator.make_token(user)],
        )
    )
    mail_owner(user, "account_created", link=link, staff=staff)
