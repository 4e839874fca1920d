"""Actions on API clients: register (by an officer), approve (by staff), revoke (either)."""

import ipaddress
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from authorities.accounts import account_event_record
from authorities.models import AccountEvent
from portal.emails import absolute_url
from requests_app import policies
from requests_app import services as requests_services
from requests_app.notifications import Email, notifications_enqueue

from .models import ApiClient, EmergencyConfirmation
from .tokens import token_new


def allowed_ips_parse(text: str) -> list[str]:
    """The allow-list, one address or network per line, each checked; ValidationError names
    the first line that is neither."""
    networks = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            networks.append(str(ipaddress.ip_network(line, strict=False)))
        except ValueError:
            raise ValidationError(
                gettext("%(line)s is not an IP address or network (CIDR).") % {"line": line}
            ) from None
    return networks


def ip_allowed(client: ApiClient, ip: str | None) -> bool:
    networks = allowed_ips_parse(client.allowed_ips)
    if not networks:
        return True
    if ip is None:
        return False
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(network) for network in networks)


@transaction.atomic
def api_client_register(
    *, officer, name: str, scopes: list[str], days: int, allowed_ips: str = ""
) -> tuple[ApiClient, str]:
    """A new client of the officer's authority, waiting for staff approval, and its token
    (returned once, never stored)."""
    if not policies.has(officer, policies.Capability.SUBMIT) or not officer.is_approved:
        raise PermissionDenied(gettext("Only an approved officer may register an API client."))
    if not 1 <= days <= settings.PORTAL_API_TOKEN_MAX_DAYS:
        raise ValidationError(
            {
                "days": gettext("A token lives 1 to %(max)s days.")
                % {"max": settings.PORTAL_API_TOKEN_MAX_DAYS}
            }
        )
    unknown = set(scopes) - set(ApiClient.Scope.values)
    if not scopes or unknown:
        raise ValidationError(
            {"scopes": gettext("Choose the read scope, the submit scope or both.")}
        )
    networks = allowed_ips_parse(allowed_ips)
    token, prefix, digest = token_new()
    client = ApiClient.objects.create(
        name=name,
        authority=officer.authority,
        officer=officer,
        scopes=sorted(set(scopes)),
        allowed_ips="\n".join(networks),
        token_prefix=prefix,
        token_sha256=digest,
        expires_at=timezone.now() + timedelta(days=days),
    )
    account_event_record(
        user=officer, kind=AccountEvent.Kind.API_CLIENT, detail=f"registered {client}"
    )
    return client, token


@transaction.atomic
def api_client_approve(*, staff, client: ApiClient) -> ApiClient:
    if not staff.is_staff:
        raise PermissionDenied(gettext("Only staff approve API clients."))
    updated = ApiClient.objects.filter(
        pk=client.pk, approved_at__isnull=True, revoked_at__isnull=True
    ).update(approved_at=timezone.now(), approved_by=staff)
    client.refresh_from_db()
    if updated:
        account_event_record(
            user=client.officer, kind=AccountEvent.Kind.API_CLIENT, detail=f"approved {client}"
        )
    return client


@transaction.atomic
def api_client_revoke(*, user, client: ApiClient) -> ApiClient:
    """The owner or staff stop a token at once. Revoking twice changes nothing."""
    if not (user.is_staff or client.officer_id == user.pk):
        raise PermissionDenied(gettext("Only the client's officer or staff may revoke it."))
    updated = ApiClient.objects.filter(pk=client.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=user
    )
    client.refresh_from_db()
    if updated:
        account_event_record(
            user=client.officer, kind=AccountEvent.Kind.API_CLIENT, detail=f"revoked {client}"
        )
    return client


def emergency_confirmation_request(*, client: ApiClient, legal_request) -> EmergencyConfirmation:
    """The client asked to submit an emergency: it waits for the officer (idempotent), who is
    e-mailed the confirmation page's link at once (through the outbox: never lost)."""
    confirmation, created = EmergencyConfirmation.objects.get_or_create(
        legal_request=legal_request, defaults={"client": client}
    )
    if created:
        officer = legal_request.officer
        notifications_enqueue(
            [
                Email(
                    key=f"api-emergency:{confirmation.pk}",
                    recipients=[officer.email],
                    template="api_emergency_waiting",
                    # A link and the client's name: never the request's content. Not "link":
                    # the outbox sets that one to the request's page for each recipient.
                    context={
                        "client": client.name,
                        "confirm_link": absolute_url(
                            reverse("api_clients:confirm", args=[legal_request.public_id])
                        ),
                    },
                    legal_request=legal_request,
                    language=officer.preferred_language,
                )
            ]
        )
    return confirmation


@transaction.atomic
def emergency_confirm(*, officer, legal_request, ip: str | None, device_id: str):
    """The officer confirms, in the pages with a fresh second factor, an emergency their
    client asked to submit: it is submitted now (the clock starts now), under the same checks
    as the form's submission (a passkey session where that policy applies)."""
    confirmation = EmergencyConfirmation.objects.select_for_update().get(
        legal_request=legal_request, confirmed_at__isnull=True
    )
    submitted = requests_services.legal_request_submit(
        officer=officer, legal_request=legal_request, ip=ip, device_id=device_id
    )
    confirmation.confirmed_at = submitted.received_at
    confirmation.save(update_fields=["confirmed_at"])
    return submitted


def emergencies_awaiting(officer):
    """The officer's emergency drafts a client asked to submit, waiting for them."""
    return EmergencyConfirmation.objects.filter(
        legal_request__officer=officer,
        legal_request__status="draft",
        confirmed_at__isnull=True,
    ).select_related("legal_request", "client")
