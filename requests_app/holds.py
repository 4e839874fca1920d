"""The enforcing authority's hold as pages, e-mails and refusals say it (e-Evidence Art. 10(2);
requests_app.enforcing runs it)."""

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext

from .models import LegalRequest


def enforcing_state_of(legal_request: LegalRequest) -> str:
    # Registry ids start with the country code (authorities.registry.REGISTRY_ID): no query.
    if legal_request.enforcing_authority_id:
        return legal_request.enforcing_authority_id[:2]
    return settings.PORTAL_ENFORCING_STATE


def hold_text(legal_request: LegalRequest, now=None) -> str:
    """ "On hold for the enforcing authority (IE) until …" in the reader's time zone (the one
    active for this request); "" when no hold applies now."""
    if not legal_request.on_hold(now):
        return ""
    return gettext("On hold for the enforcing authority (%(state)s) until %(until)s") % {
        "state": enforcing_state_of(legal_request),
        "until": f"{timezone.localtime(legal_request.hold_until):%Y-%m-%d %H:%M %Z}",
    }
