import time
import zoneinfo
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import kept_forms
from .access import LOGIN_STEP, PUBLIC, access_of

SESSION_ENDED = gettext_lazy("Your session has ended. Please log in again.")


class SecondFactorRequiredMiddleware:
    """Sends anyone without a password login to the login page, and anyone without a verified
    second factor to the second-factor step, for every view not marked public or login_step.
    Django admin included: its views carry no mark."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        access = access_of(view_func)
        if access == PUBLIC:
            return None
        user = request.user
        if not user.is_authenticated:
            response = _redirect(settings.LOGIN_URL, request)
            # A form posted after its session ended (the CSRF check has passed by now).
            if kept_forms.keep(request, response):
                messages.warning(
                    request,
                    _(
                        "Your session had ended, so nothing was sent. What you typed is kept "
                        "for you: log in again and it is back in the form. Files are not kept: "
                        "you will attach them again."
                    ),
                )
            elif getattr(request, "portal_session_ended", False):
                messages.info(request, SESSION_ENDED)
            return response
        if access == LOGIN_STEP:
            return None
        if not user.is_verified():
            return _redirect("authorities:otp", request)
        return None


def _redirect(url_name: str, request: HttpRequest) -> HttpResponseRedirect:
    query = urlencode({"next": request.get_full_path()})
    return HttpResponseRedirect(f"{reverse(url_name)}?{query}")


class SessionTimeoutMiddleware:
    """Ends a session idle for PORTAL_SESSION_IDLE_SECONDS or older than SESSION_COOKIE_AGE since
    login, server-side (the session row is deleted), whatever the browser keeps."""

    LOGIN_AT = "portal_login_at"
    SEEN_AT = "portal_seen_at"

    def __init__(self, get_response):
        self.get_response = get_response

    @classmethod
    def start_clock(cls, sender, request: HttpRequest, user, **kwargs) -> None:
        now = int(time.time())
        request.session[cls.LOGIN_AT] = now
        request.session[cls.SEEN_AT] = now

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(time.time())
            session = request.session
            login_at = session.setdefault(self.LOGIN_AT, now)
            seen_at = session.get(self.SEEN_AT, now)
            idle = now - seen_at > settings.PORTAL_SESSION_IDLE_SECONDS
            expired = now - login_at > settings.SESSION_COOKIE_AGE
            if idle or expired:
                logout(request)
                if request.method != "POST":
                    messages.info(request, SESSION_ENDED)
                    return _redirect(settings.LOGIN_URL, request)
                # A post goes on, logged out: past the CSRF check, SecondFactorRequired sends
                # it to the login page and keeps a typed form (kept_forms).
                request.portal_session_ended = True
                return self.get_response(request)
            # Write at most once a minute: a session save on every request costs a query.
            if now - seen_at >= 60 or self.SEEN_AT not in session:
                session[self.SEEN_AT] = now
                seen_at = now
            request.session_seconds_left = min(
                settings.PORTAL_SESSION_IDLE_SECONDS - (now - seen_at),
                settings.SESSION_COOKIE_AGE - (now - login_at),
            )
        return self.get_response(request)

    @classmethod
    def renew(cls, request: HttpRequest) -> int:
        """The idle clock starts again now (the "Stay signed in" of static/js/session.js); the
        seconds the session now has, never past its absolute limit."""
        now = int(time.time())
        request.session[cls.SEEN_AT] = now
        login_at = request.session.get(cls.LOGIN_AT, now)
        request.session_seconds_left = min(
            settings.PORTAL_SESSION_IDLE_SECONDS,
            settings.SESSION_COOKIE_AGE - (now - login_at),
        )
        return request.session_seconds_left


class UserTimeZoneMiddleware:
    """Shows times in the logged-in user's own zone (User.time_zone); UTC for everyone else.
    Storage stays UTC: only rendering (templates, forms) follows the active zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = request.user.time_zone if request.user.is_authenticated else "UTC"
        try:
            timezone.activate(zoneinfo.ZoneInfo(zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # a zone this machine lacks
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            # The zone is thread-local: the next request on this thread starts from UTC.
            timezone.deactivate()
