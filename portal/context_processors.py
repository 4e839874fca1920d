from django.conf import settings
from django.http import HttpRequest


def session_clock(request: HttpRequest) -> dict:
    """When the idle-timeout warning shows (templates/base.html, static/js/session.js)."""
    return {"session_warn_seconds": settings.PORTAL_SESSION_WARN_SECONDS}
