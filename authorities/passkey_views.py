"""Passkeys: the WebAuthn ceremonies (django-otp-webauthn's JSON views, with this portal's
rules), the account's passkey page, and the page that asks for a passkey-verified session.

- Authentication is the login's second step (after the password), or a re-check of a session
  already verified with a code; either way it ends in the login bookkeeping of a code login
  (_complete_second_factor: new session key, LOGIN event, known-device cookie).
- Registration needs a verified session and a fresh code typed on the passkey page just before
  (step-up, as for every other second-factor change); the owner is told by e-mail.
"""

import json
import time
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp_webauthn import exceptions as webauthn_errors
from django_otp_webauthn import views as webauthn_views

from portal.access import LOGIN_STEP
from portal.http import client_ip
from portal.ratelimits import login_limit

from . import passkeys
from .forms import PasskeyAddForm, PasskeyRemoveForm
from .second_factor import (
    has_passkey,
    passkey_required_message,
    passkeys_of,
    session_is_phishing_resistant,
)
from .stepup import fresh_second_factor
from .views import _complete_second_factor, _next_url

# Set by a fresh code on the passkey page; the registration ceremony must follow within this.
ENROL_SESSION_KEY = "portal_passkey_enrol"
ENROL_SECONDS = 300


class StepUpNeeded(webauthn_errors.OTPWebAuthnApiError):
    status_code = 403
    default_code = "step_up_needed"
    default_detail = "Confirm with a code from your authenticator app first."


def _enrolment(request: HttpRequest) -> dict | None:
    opened = request.session.get(ENROL_SESSION_KEY)
    if opened and opened.get("until", 0) > time.time():
        return opened
    return None


class _JSONBody:
    def _parse_request_data(self, request):
        try:
            return super()._parse_request_data(request)
        except ValueError as problem:
            # A body that is not UTF-8 (UnicodeDecodeError) escaped the library: a 500. Found by
            # tests/security/test_fuzz_forms.py::test_passkey_ceremonies_never_fail.
            raise webauthn_errors.MalformedRequest() from problem


class _RegistrationRules(_JSONBody):
    def check_can_register(self):
        # Stricter than the library (which lets an account without any second factor register
        # a passkey and counts that as verified): a verified session and a fresh code.
        if not self.request.user.is_verified():
            raise webauthn_errors.NotVerified()
        if _enrolment(self.request) is None:
            raise StepUpNeeded()


@method_decorator(require_POST, name="dispatch")  # 405 before any check, as other POST views
class PasskeyRegisterBegin(_RegistrationRules, webauthn_views.BeginCredentialRegistrationView):
    pass


@method_decorator(require_POST, name="dispatch")
class PasskeyRegisterComplete(
    _RegistrationRules, webauthn_views.CompleteCredentialRegistrationView
):
    def post(self, *args, **kwargs):
        enrolment = _enrolment(self.request)
        response = super().post(*args, **kwargs)
        self.request.session.pop(ENROL_SESSION_KEY, None)
        messages.success(self.request, _("Your passkey is added."))
        passkeys.passkey_added(
            user=self.request.user,
            passkey_id=json.loads(response.content)["id"],
            name=(enrolment or {}).get("name", ""),
            ip=client_ip(self.request),
        )
        return response


@method_decorator(login_limit, name="post")
class PasskeyAuthBegin(_JSONBody, webauthn_views.BeginCredentialAuthenticationView):
    portal_access = LOGIN_STEP  # between the password and the second factor


@method_decorator(login_limit, name="post")
class PasskeyAuthComplete(_JSONBody, webauthn_views.CompleteCredentialAuthenticationView):
    portal_access = LOGIN_STEP

    def complete_auth(self, device):
        # The login itself happens in post(), with the portal's bookkeeping.
        self.verified_device = device

    def get_success_url(self):
        return _next_url(self.request)

    def post(self, *args, **kwargs):
        response = super().post(*args, **kwargs)
        return _complete_second_factor(self.request, self.verified_device, response)


@never_cache
@require_http_methods(["GET", "POST"])
def passkeys_page(request: HttpRequest) -> HttpResponse:
    """The account's passkeys: list, add (after a fresh code), remove (after a fresh code)."""
    user = request.user
    own = list(passkeys_of(user))
    action = request.POST.get("action")
    add_form = PasskeyAddForm(request.POST if action == "add" else None)
    remove_form = PasskeyRemoveForm(request.POST if action == "remove" else None, passkeys=own)
    form = {"add": add_form, "remove": remove_form}.get(action)
    if request.method == "POST" and form is not None and form.is_valid():
        result = fresh_second_factor(request, form.cleaned_data["otp_token"])
        if not result:
            form.add_error("otp_token", result.wait_message or _("That code is not right."))
        elif form is add_form:
            request.session[ENROL_SESSION_KEY] = {
                "until": time.time() + ENROL_SECONDS,
                "name": form.cleaned_data["name"],
            }
            return redirect(_with_next_param("authorities:passkeys", request))
        else:
            passkeys.passkey_remove(
                user=user, passkey_id=form.cleaned_data["passkey"], ip=client_ip(request)
            )
            messages.success(request, _("The passkey is removed."))
            return redirect(_with_next_param("authorities:passkeys", request))
    here = _with_next_param("authorities:passkeys", request)
    next_url = _next_url(request) if request.GET.get("next") else ""
    return render(
        request,
        "authorities/passkeys.html",
        {
            "register": registration_urls(here),
            "authenticate": authentication_urls(next_url or here),
            "passkeys": own,
            "add_form": add_form,
            "remove_form": remove_form,
            "enrolling": _enrolment(request) is not None,
            "session_has_passkey": session_is_phishing_resistant(request),
            "next": next_url,
        },
    )


def _with_next_param(url_name: str, request: HttpRequest) -> str:
    url = reverse(url_name)
    if request.GET.get("next"):
        url = f"{url}?{urlencode({'next': _next_url(request)})}"
    return url


def authentication_urls(next_url: str) -> dict:
    """The passkey authentication ceremony's URLs, sending the browser to next_url after."""
    complete = reverse("authorities:passkey_auth_complete")
    return {
        "begin": reverse("authorities:passkey_auth_begin"),
        "complete": f"{complete}?{urlencode({'next': next_url})}",
        "done": next_url,
    }


def registration_urls(done_url: str) -> dict:
    return {
        "begin": reverse("authorities:passkey_register_begin"),
        "complete": reverse("authorities:passkey_register_complete"),
        "done": done_url,
    }


def passkey_required_response(request: HttpRequest, action: str, next_url: str) -> HttpResponse:
    """The page for an action refused to a session not verified with a passkey: confirm the
    session with the passkey now, or add one first."""
    return TemplateResponse(
        request,
        "authorities/passkey_required.html",
        {
            "message": passkey_required_message(action),
            "has_passkey": has_passkey(request.user),
            "next": next_url,
            "ceremony": authentication_urls(next_url),
        },
        status=403,
    )
