"""Step-up: sensitive actions (changing the e-mail or the second factor, approving an emergency
disclosure) ask for a fresh second-factor code in the same form, whatever the session holds."""

from django import forms
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from portal.http import client_ip

from .services import otp_verify


class StepUpField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Code from your authenticator app (confirms it is you)"))
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text"})
        )
        super().__init__(**kwargs)


def fresh_second_factor(request: HttpRequest, token: str) -> bool:
    return otp_verify(user=request.user, token=token, ip=client_ip(request)) is not None
