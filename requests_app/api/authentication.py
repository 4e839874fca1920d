"""Bearer tokens of API clients. The same standing rules as the pages, on every call: the
registry re-check of the officer and their authority (authorities.selectors.officer_block_reason,
what OfficerStandingMiddleware asks for a session), the officer still approved and active."""

from django.utils import timezone
from django.utils.translation import gettext
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from authorities.accounts import account_event_record
from authorities.models import AccountEvent
from authorities.selectors import officer_standing_checked
from portal.http import client_ip

from .models import ApiClient
from .services import ip_allowed
from .tokens import PREFIX, token_hash


class ClientTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer lrp_...`. An unknown, revoked, expired or unapproved token is 401;
    a call from outside the client's allow-list, or for a blocked officer, 403 with the reason."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(gettext("Give one token after Bearer."))
        token = header[1].decode("latin-1")
        client = None
        if token.startswith(PREFIX):
            client = (
                ApiClient.objects.select_related("officer__authority", "authority")
                .filter(token_sha256=token_hash(token))
                .first()
            )
        if client is None:
            raise exceptions.AuthenticationFailed(gettext("Unknown token."))
        if client.revoked_at is not None:
            raise exceptions.AuthenticationFailed(gettext("This token was revoked."))
        if client.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed(gettext("This token has expired."))
        if client.approved_at is None:
            raise exceptions.AuthenticationFailed(
                gettext("This client is waiting for the platform staff's approval.")
            )
        ip = client_ip(request._request)
        if not ip_allowed(client, ip):
            raise exceptions.PermissionDenied(
                gettext("Calls with this token are not allowed from %(ip)s.") % {"ip": ip}
            )
        officer = client.officer
        reason = officer_standing_checked(officer)
        if reason is None and not (officer.is_active and officer.is_approved):
            reason = gettext("The officer who owns this client may not use the portal now.")
        if reason is None and officer.authority_id != client.authority_id:
            reason = gettext("The officer who owns this client left its authority.")
        if reason is not None:
            account_event_record(
                user=officer, kind=AccountEvent.Kind.BLOCKED, ip=ip, detail=f"API: {reason}"
            )
            raise exceptions.PermissionDenied(reason)
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=timezone.now())
        return officer, client

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
