"""Rate limits on the endpoints an attacker would hammer (django-ratelimit; rates in settings)."""

from django.conf import settings
from django_ratelimit.decorators import ratelimit


def _rate(setting: str):
    # Read at request time, so an operator (or a test) can change a rate without a restart.
    return lambda group, request: getattr(settings, setting)


def _user_or_ip(group, request) -> str:
    user = getattr(request, "user", None)
    return (
        f"user:{user.pk}"
        if user is not None and user.is_authenticated
        else request.META.get("REMOTE_ADDR", "")
    )


signup_limit = ratelimit(key="ip", rate=_rate("PORTAL_RATE_SIGNUP"), method="POST")
login_limit = ratelimit(key="ip", rate=_rate("PORTAL_RATE_LOGIN"), method="POST")
password_reset_limit = ratelimit(key="ip", rate=_rate("PORTAL_RATE_PASSWORD_RESET"), method="POST")
submission_limit = ratelimit(key=_user_or_ip, rate=_rate("PORTAL_RATE_SUBMISSION"), method="POST")
upload_limit = ratelimit(key=_user_or_ip, rate=_rate("PORTAL_RATE_UPLOAD"), method="POST")
