from django import forms
from django.conf import settings
from django.contrib.auth.forms import SetPasswordForm
from django.utils.translation import gettext_lazy as _

from .constants import time_zone_choices
from .domains import MailboxError, plain_mailbox
from .second_factor import otp_check
from .selectors import confirmed_devices

# The length of the User.email column (forms.EmailField allows 320): a longer address went as
# far as the database, a DataError there (a 500; at login, from django-axes' 255-character log).
EMAIL_MAX_LENGTH = 254


class SignUpForm(forms.Form):
    """Address and name only: the password is chosen on the page the e-mailed link opens, so
    nobody holds a credential of an address they have not shown they receive mail at."""

    email = forms.EmailField(
        max_length=EMAIL_MAX_LENGTH,
        label=_("Official e-mail address"),
        help_text=_("The address your authority gave you, on its official domain."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    full_name = forms.CharField(
        label=_("Full name"), max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )

    def clean_email(self) -> str:
        try:
            return plain_mailbox(self.cleaned_data["email"])
        except MailboxError as problem:
            raise forms.ValidationError(str(problem)) from None


class SignUpCompleteForm(SetPasswordForm):
    """The page the verification link opens: the mailbox holder confirms the name and chooses
    the password (Django's validators, checked against this account's name and address)."""

    full_name = forms.CharField(
        label=_("Full name"), max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    new_password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 12 characters; not a common password."),
    )
    new_password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    field_order = ["full_name", "new_password1", "new_password2"]
    error_messages = {"password_mismatch": _("The two passwords differ.")}

    def __init__(self, user, *args, **kwargs):
        kwargs.setdefault("initial", {"full_name": user.full_name})
        super().__init__(user, *args, **kwargs)


class LoginForm(forms.Form):
    username = forms.EmailField(
        max_length=EMAIL_MAX_LENGTH,
        label=_("E-mail address"),
        widget=forms.EmailInput(attrs={"autocomplete": "username"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class OTPForm(forms.Form):
    token = forms.CharField(
        label=_("Code from your authenticator app, or a backup code"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )


class EnrolForm(forms.Form):
    token = forms.CharField(
        label=_("6-digit code shown by the app"),
        max_length=6,
        min_length=6,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]{6}"}
        ),
    )


class SecondFactorSetPasswordForm(SetPasswordForm):
    """Password reset: the e-mail link alone is not enough, the second factor is asked too, so a
    stolen mailbox cannot take over an officer's portal account."""

    otp_token = forms.CharField(
        label=_("Code from your authenticator app, or a backup code"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
        required=False,
    )

    def __init__(self, user, *args, ip=None, device_key=None, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.ip = ip
        self.device_key = device_key  # the browser's throttle bucket (second_factor.otp_check)
        if not confirmed_devices(user):
            # Never enrolled: the second factor is set up at the next login instead.
            del self.fields["otp_token"]

    def clean_otp_token(self):
        token = self.cleaned_data.get("otp_token", "")
        result = otp_check(user=self.user, token=token, ip=self.ip, device_key=self.device_key)
        if result.wait_message:
            raise forms.ValidationError(result.wait_message)
        if not result:
            raise forms.ValidationError(_("That code is not right."))
        return token


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.TextInput)


class EmailChangeForm(forms.Form):
    new_email = forms.EmailField(max_length=EMAIL_MAX_LENGTH, label=_("New e-mail address"))
    otp_token = forms.CharField(
        label=_("Code from your authenticator app (confirms it is you)"), max_length=20
    )


class ReplaceSecondFactorForm(forms.Form):
    otp_token = forms.CharField(
        label=_("Code from your current authenticator app (confirms it is you)"), max_length=20
    )


class LanguageSelect(forms.Select):
    """Each language named in itself ("English", "Français") and marked so (lang), as the
    header's picker does: screen readers then say each name in its own language."""

    def create_option(self, name, value, *args, **kwargs):
        option = super().create_option(name, value, *args, **kwargs)
        option["attrs"]["lang"] = value
        return option


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Language"), choices=settings.LANGUAGES, widget=LanguageSelect
    )
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=time_zone_choices,
        help_text=_("Dates and times in the portal are shown in this zone."),
    )


class PasskeyAddForm(forms.Form):
    name = forms.CharField(
        label=_("Name of the passkey"),
        max_length=64,
        required=False,
        help_text=_("For example: YubiKey, work laptop."),
    )
    otp_token = forms.CharField(
        label=_("Code from your authenticator app (confirms it is you)"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )


class PasskeyRemoveForm(forms.Form):
    passkey = forms.TypedChoiceField(label=_("Passkey"), coerce=int, choices=())
    otp_token = forms.CharField(
        label=_("Code from your authenticator app (confirms it is you)"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )

    def __init__(self, *args, passkeys=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["passkey"].choices = [(p.pk, p.name) for p in passkeys]
