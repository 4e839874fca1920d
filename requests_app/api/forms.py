from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from authorities.stepup import StepUpField

from .models import ApiClient


class ApiClientForm(forms.Form):
    name = forms.CharField(label=_("Name of the case system"), max_length=100)
    scopes = forms.MultipleChoiceField(
        label=_("What it may do"),
        choices=ApiClient.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiClient.Scope.READ],
    )
    days = forms.IntegerField(
        label=_("Valid for (days)"),
        min_value=1,
        max_value=settings.PORTAL_API_TOKEN_MAX_DAYS,
        initial=settings.PORTAL_API_TOKEN_MAX_DAYS,
    )
    allowed_ips = forms.CharField(
        label=_("Allowed addresses (optional; one IP address or network per line)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    # A token acts as the officer for up to 90 days: minted only with a fresh code, so a
    # session left open cannot make one (as adding a passkey needs one).
    otp_token = StepUpField()


class EmergencyConfirmForm(forms.Form):
    otp_token = StepUpField()


class WebhookForm(forms.Form):
    url = forms.CharField(
        label=_("Address that receives the events (https://…)"),
        max_length=500,
        widget=forms.URLInput,
    )
    # The secret signs what the portal tells the client: set and rotated with a fresh code.
    otp_token = StepUpField()


class WebhookRotateForm(forms.Form):
    otp_token = StepUpField()
