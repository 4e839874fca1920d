from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from portal.http import client_ip

from .accounts import account_event_record
from .models import AccountEvent
from .selectors import officer_standing_checked


class OfficerStandingMiddleware:
    """The live registry re-check: an officer whose authority is no longer active, or whose
    domain left it, is logged out at their next request and shown why. Nothing is deleted."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and user.is_officer:
            reason = officer_standing_checked(user)
            if reason is not None:
                account_event_record(
                    user=user, kind=AccountEvent.Kind.BLOCKED, ip=client_ip(request), detail=reason
                )
                logout(request)
                return TemplateResponse(
                    request, "authorities/blocked.html", {"reason": reason}, status=403
                ).render()
        return self.get_response(request)
