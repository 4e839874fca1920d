"""Step-up: sensitive actions (changing the e-mail or the second factor, approving an emergency
disclosure) ask for a fresh second-factor code in the same form, whatever the session holds."""

from django import forms
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from portal.http import client_ip

from .devices import DEVICE_COOKIE
from .second_factor import OTPResult, otp_check


class StepUpField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Code from your authenticator app (confirms it is you)"))
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text"})
        )
        super().__init__(**kwargs)


def browser_device_key(request: HttpRequest) -> str | None:
    """The key in this browser's signed known-device cookie (None if absent or tampered with):
    it picks the browser's bucket in the second-factor throttle (second_factor.otp_check)."""
    return request.get_signed_cookie(DEVICE_COOKIE, default=None)


def second_factor_check(request: HttpRequest, token: str) -> OTPResult:
    """Check a code the session's user typed in this browser (login step or step-up), under the
    throttle of this browser's bucket. True when accepted; when a wait applies the code was not
    checked and `wait_message` says how long: tell the user that, not "the code is wrong"."""
    return otp_check(
        user=request.user,
        token=token,
        ip=client_ip(request),
        device_key=browser_device_key(request),
    )


def fresh_second_factor(request: HttpRequest, token: str) -> OTPResult:
    """Step-up: a fresh code for a sensitive action, whatever the session already holds."""
    return second_factor_check(request, token)
