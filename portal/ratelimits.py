"""Rate limits on the endpoints an attacker would hammer (django-ratelimit; rates in settings)."""

import ipaddress

from django.conf import settings
from django_ratelimit.decorators import ratelimit

from .http import client_ip


def _rate(setting: str):
    # Read at request time, so an operator (or a test) can change a rate without a restart.
    return lambda group, request: getattr(settings, setting)


def _ip(group, request) -> str:
    # One bucket per client behind the trusted proxies (not one for everyone behind the proxy).
    # An IPv6 client is handed a whole /64, so the bucket is the /64 (as django-ratelimit's own
    # "ip" key does), or one client could rotate addresses to escape the limit.
    ip = client_ip(request)
    if ip is None:
        return "ip:unknown"
    prefix = 64 if ":" in ip else 32
    return f"ip:{ipaddress.ip_network(f'{ip}/{prefix}', strict=False).network_address}"


def _user_or_ip(group, request) -> str:
    user = getattr(request, "user", None)
    return f"user:{user.pk}" if user is not None and user.is_authenticated else _ip(group, request)


signup_limit = ratelimit(key=_ip, rate=_rate("PORTAL_RATE_SIGNUP"), method="POST")
login_limit = ratelimit(key=_ip, rate=_rate("PORTAL_RATE_LOGIN"), method="POST")
password_reset_limit = ratelimit(key=_ip, rate=_rate("PORTAL_RATE_PASSWORD_RESET"), method="POST")
submission_limit = ratelimit(key=_user_or_ip, rate=_rate("PORTAL_RATE_SUBMISSION"), method="POST")
upload_limit = ratelimit(key=_user_or_ip, rate=_rate("PORTAL_RATE_UPLOAD"), method="POST")
