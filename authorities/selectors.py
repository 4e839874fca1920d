"""Reads of the registry and of officers, with the rules that decide who is a real officer."""

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils.translation import gettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.queries import Prepared

from .constants import AuthorityStatus, Instrument
from .domains import DomainError, candidate_registry_domains, email_domain
from .models import (
    Authority,
    AuthorityDomain,
    BackupCodeDevice,
    RegistryChange,
    RegistryImport,
    User,
)

# Read on every officer's page and every view of the review page: its SQL written once per
# number of candidate domains (portal/queries.py).
_REGISTRY_DOMAINS = Prepared(
    lambda *domains: AuthorityDomain.objects.filter(domain__in=domains).values_list(
        "domain", "authority_id", "authority__status"
    )
)


def _registry_match(email: str) -> tuple[str, str] | None:
    """(authority id, status) of the registry domain the address is in, the most specific
    domain winning when registry domains nest; None when the address is in none: the one rule
    for sign-up and the live re-check. Ids and statuses only: the re-check runs on every
    officer's page and the reviewer's panel, which need no Authority object."""
    try:
        domain = email_domain(email)
    except DomainError:
        return None
    candidates = candidate_registry_domains(domain)
    matches = {
        name: (authority_id, status)
        for name, authority_id, status in _REGISTRY_DOMAINS(*candidates)
    }
    for candidate in candidates:  # most specific first
        if candidate in matches:
            return matches[candidate]
    return None


def authority_for_email(email: str) -> Authority | None:
    """The active authority whose official domain the address is in, or None."""
    match = _registry_match(email)
    if match is None or match[1] != AuthorityStatus.ACTIVE:
        return None
    return Authority.objects.get(pk=match[0])


def address_belongs_to(email: str, authority_id: str | None) -> bool:
    """Whether the address is, today, an official address of this authority in the registry:
    the one comparison behind sign-in re-checks, e-mail changes and the reviewer's panel."""
    match = _registry_match(email)
    return (
        match is not None
        and match[1] == AuthorityStatus.ACTIVE
        and authority_id is not None
        and match[0] == authority_id
    )


# Set on the user object of an HTTP request found in standing at its start (the middleware,
# the API's authentication): what that request then does (a service's submit_block, twice in
# one submission) rides on that check instead of reading the registry again. Objects that did
# not come through a request (tasks, the webhooks' clients, tests) are always checked.
_IN_STANDING = "_registry_in_standing_this_request"


def officer_block_reason(user: User) -> str | None:
    """Why an officer may not use the portal right now, or None. Checked on every request, so a
    registry change (suspension, revocation, a removed domain) takes effect at once."""
    if not user.is_officer or getattr(user, _IN_STANDING, False):
        return None
    authority = user.authority
    if authority.status != AuthorityStatus.ACTIVE:
        return gettext(
            "Your authority (%(name)s) is %(status)s in the registry of competent authorities, "
            "so this account cannot be used. Your requests are kept. Contact the platform's "
            "legal team through official channels."
        ) % {"name": authority.name_en, "status": authority.get_status_display().lower()}
    if not address_belongs_to(user.email, authority.pk):
        return gettext(
            "Your e-mail domain is no longer an official domain of your authority in the registry "
            "of competent authorities, so this account cannot be used. Your requests are kept."
        )
    return None


def officer_standing_checked(user: User) -> str | None:
    """The check at the start of an HTTP request: officer_block_reason, remembered on this
    request's user object when there is none."""
    reason = officer_block_reason(user)
    if reason is None:
        setattr(user, _IN_STANDING, True)
    return reason


# An officer who signed up and confirmed their address, not yet approved (or back to waiting
# after a staff reset of their second factor): the staff's "waiting for approval".
AWAITS_APPROVAL = Q(
    authority__isnull=False, email_verified_at__isnull=False, approved_at__isnull=True
)


def officers_pending_approval() -> QuerySet[User]:
    return User.objects.filter(AWAITS_APPROVAL).select_related("authority").order_by("date_joined")


def officer_awaits_approval(user: User) -> bool:
    return user.pk is not None and User.objects.filter(AWAITS_APPROVAL, pk=user.pk).exists()


@dataclass(frozen=True)
class RegistryEvidence:
    """What the registry says of an officer's authority, for the staff member who approves them:
    the entry, whether the address is still one of its official domains, and where the entry
    comes from (its official source, and the registry file it was last imported from)."""

    authority: Authority
    email_domain: str
    domain_matches: bool
    instrument_labels: list[str]
    last_import: RegistryImport | None
    last_change: RegistryChange | None


def officer_registry_evidence(officer: User) -> RegistryEvidence | None:
    authority = officer.authority
    if authority is None:
        return None
    imported = (
        authority.changes.filter(registry_import__isnull=False)
        .select_related("registry_import")
        .order_by("-changed_at")
        .first()
    )
    labels = dict(Instrument.choices)
    return RegistryEvidence(
        authority=authority,
        email_domain=officer.email_domain,
        domain_matches=address_belongs_to(officer.email, authority.pk),
        instrument_labels=[str(labels[i]) for i in Instrument.values if i in authority.instruments],
        last_import=imported.registry_import if imported else None,
        last_change=authority.changes.order_by("-changed_at").first(),
    )


def officers_of_authority_for_contact(contact: User) -> QuerySet[User]:
    """The officers an authority contact may approve or revoke: their own authority's only."""
    if not (contact.is_authority_contact and contact.is_officer and contact.is_approved):
        return User.objects.none()
    return (
        User.objects.filter(authority_id=contact.authority_id, email_verified_at__isnull=False)
        .exclude(pk=contact.pk)
        .order_by("approved_at", "email")
    )


# --- Second factor -------------------------------------------------------------------------------


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


def backup_codes_unused(user: User, codes: list[str]) -> bool:
    """Whether these are unused backup codes of this user (BackupCodeDevice.holds_unused)."""
    device = BackupCodeDevice.objects.filter(user=user, confirmed=True).first()
    return device is not None and device.holds_unused(codes)
