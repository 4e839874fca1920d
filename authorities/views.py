import base64
from io import BytesIO
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, logout
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import translation
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import i18n
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from portal.access import PUBLIC, login_step, public
from portal.http import client_ip, remember_language
from portal.middleware import SessionTimeoutMiddleware
from portal.ratelimits import login_limit, password_reset_limit, signup_limit

from . import accounts, devices, second_factor, selectors
from .forms import (
    EmailChangeForm,
    EnrolForm,
    LoginForm,
    OTPForm,
    PreferencesForm,
    ReasonForm,
    ReplaceSecondFactorForm,
    SecondFactorSetPasswordForm,
    SignUpCompleteForm,
    SignUpForm,
)
from .models import AccountEvent
from .stepup import browser_device_key, fresh_second_factor, second_factor_check


def _next_url(request: HttpRequest) -> str:
    # A path on this site only: redirect() takes any other string for a URL name, so
    # ?next=foo raised NoReverseMatch (a 500) once the second factor was verified.
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("home")


def _with_next(url_name: str, request: HttpRequest) -> str:
    nxt = request.POST.get("next") or request.GET.get("next")
    url = reverse(url_name)
    if nxt:
        url = f"{url}?{urlencode({'next': nxt})}"
    return url


# --- Sign-up and e-mail verification ----------------------------------------------------------


@public
@never_cache
@require_http_methods(["GET", "POST"])
@signup_limit
def signup(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            accounts.officer_sign_up(
                email=form.cleaned_data["email"],
                full_name=form.cleaned_data["full_name"],
                ip=client_ip(request),
                language=translation.get_language(),
            )
        except accounts.SignUpRefused as refusal:
            form.add_error("email", str(refusal))
        else:
            return render(
                request,
                "authorities/signup_done.html",
                {"email": form.cleaned_data["email"], "hours": settings.PORTAL_EMAIL_LINK_HOURS},
            )
    return render(request, "authorities/signup.html", {"form": form})


@public
@sensitive_post_parameters("new_password1", "new_password2")
@never_cache
@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    # GET only shows the form: mail scanners that prefetch links must not use up the link.
    # POST confirms the address and sets the password chosen here, in one service call.
    try:
        user = accounts.email_verification_user(token)
        form = SignUpCompleteForm(user, request.POST or None)
        if request.method == "POST" and form.is_valid():
            user = accounts.officer_verify_email(
                token=token,
                password=form.cleaned_data["new_password1"],
                full_name=form.cleaned_data["full_name"],
                ip=client_ip(request),
            )
            return render(request, "authorities/verify_done.html", {"user": user})
    except accounts.InvalidLink as problem:
        return render(request, "authorities/verify_email.html", {"problem": str(problem)})
    return render(request, "authorities/verify_email.html", {"user": user, "form": form})


# --- Login: password, then second factor ------------------------------------------------------


@public
@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])  # HEAD as GET, for health checkers
@login_limit
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.user.is_verified():
        return redirect(_next_url(request))
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = authenticate(
            request,
            username=form.cleaned_data["username"].lower(),
            password=form.cleaned_data["password"],
        )
        if user is None:
            # django-axes counts the failure; past the limit its middleware answers "locked".
            form.add_error(None, _("E-mail address or password is wrong."))
        elif user.email_verified_at is None:
            form.add_error(None, _("Confirm your e-mail address first: open the link we sent you."))
        elif (reason := selectors.officer_block_reason(user)) is not None:
            form.add_error(None, reason)
        else:
            auth_login(request, user)  # rotates the session key
            step = "authorities:otp" if selectors.has_second_factor(user) else "authorities:enrol"
            # From here on the pages speak the account's language.
            return remember_language(redirect(_with_next(step, request)), user.preferred_language)
    return render(request, "authorities/login.html", {"form": form, "next": _next_url(request)})


def _complete_second_factor(request: HttpRequest, device, response: HttpResponse) -> HttpResponse:
    otp_login(request, device)
    request.session.cycle_key()  # a new session key once the second factor is verified
    ip = client_ip(request)
    accounts.account_event_record(user=request.user, kind=AccountEvent.Kind.LOGIN, ip=ip)
    key = devices.login_device_seen(
        user=request.user,
        device_key=request.get_signed_cookie(devices.DEVICE_COOKIE, default=None),
        ip=ip,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    response.set_signed_cookie(
        devices.DEVICE_COOKIE,
        key,
        max_age=400 * 24 * 3600,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


@login_step
@never_cache
@require_http_methods(["GET", "POST"])
@login_limit
def otp_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.is_verified():
        return redirect(_next_url(request))
    if not selectors.has_second_factor(user):
        return redirect(_with_next("authorities:enrol", request))
    form = OTPForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = second_factor_check(request, form.cleaned_data["token"])
        if result:
            return _complete_second_factor(request, result.device, redirect(_next_url(request)))
        if result.wait_message:
            form.add_error(None, result.wait_message)
        else:
            form.add_error("token", _("That code is not right."))
    return render(
        request,
        "authorities/otp.html",
        {"form": form, "next": _next_url(request), "has_passkey": second_factor.has_passkey(user)},
    )


@login_step
@never_cache
@require_http_methods(["GET", "POST"])
def enrol_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if selectors.has_second_factor(user):
        # A second factor is replaced only by staff (recorded), never from a session.
        return redirect(_with_next("authorities:otp", request))
    device = second_factor.totp_device_for_enrolment(user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = second_factor.otp_enrol_confirm(
                user=user, token=form.cleaned_data["token"], ip=client_ip(request)
            )
        except ValidationError as problem:
            form.add_error("token", problem.messages[0])
        else:
            return _complete_second_factor(
                request,
                device,
                render(
                    request,
                    "authorities/backup_codes.html",
                    {"codes": codes, "next": _next_url(request)},
                ),
            )
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return render(
        request,
        "authorities/enrol.html",
        {
            "form": form,
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "qr_data_uri": _qr_data_uri(device.config_url),
            "next": _next_url(request),
        },
    )


def _qr_data_uri(text: str) -> str:
    # An SVG data URI: no external request and no inline script, so the strict CSP holds.
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
    buffer = BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


@login_step
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    accounts.account_event_record(
        user=request.user, kind=AccountEvent.Kind.LOGOUT, ip=client_ip(request)
    )
    logout(request)  # deletes the session row: the old cookie is worthless
    messages.info(request, _("You are logged out."))
    return redirect("landing")


@never_cache
@require_POST
def session_keep_alive(request: HttpRequest) -> JsonResponse:
    """ "Stay signed in" on the idle-timeout warning (static/js/session.js): login and second
    factor required like any page, POST with the CSRF token; the idle clock starts again."""
    return JsonResponse({"seconds_left": SessionTimeoutMiddleware.renew(request)})


# --- Password reset (e-mail link + second factor) ---------------------------------------------


@method_decorator(password_reset_limit, name="post")
class PasswordResetView(auth_views.PasswordResetView):
    portal_access = PUBLIC
    template_name = "authorities/password_reset.html"
    email_template_name = "emails/password_reset.txt"
    html_email_template_name = "emails/password_reset.html"
    subject_template_name = "emails/password_reset.subject.txt"
    success_url = reverse_lazy("authorities:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    portal_access = PUBLIC
    template_name = "authorities/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    portal_access = PUBLIC
    template_name = "authorities/password_reset_confirm.html"
    form_class = SecondFactorSetPasswordForm
    success_url = reverse_lazy("authorities:password_reset_complete")

    def get_form_kwargs(self):
        return {
            **super().get_form_kwargs(),
            "ip": client_ip(self.request),
            "device_key": browser_device_key(self.request),
        }

    def form_valid(self, form):
        response = super().form_valid(form)
        accounts.account_event_record(
            user=form.user, kind=AccountEvent.Kind.PASSWORD_RESET, ip=client_ip(self.request)
        )
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    portal_access = PUBLIC
    template_name = "authorities/password_reset_complete.html"


# --- After login ------------------------------------------------------------------------------


@never_cache
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "authorities/home.html", {"user": request.user})


@never_cache
@require_http_methods(["GET", "POST"])
def authority_officers(request: HttpRequest) -> HttpResponse:
    """An authority's designated contact approves or revokes their own authority's officers."""
    officers = selectors.officers_of_authority_for_contact(request.user)
    if not request.user.is_authority_contact:
        raise Http404
    if request.method == "POST":
        pk = request.POST.get("officer", "")
        # An id or nobody: filter(pk="abc"), or pk of more than 4,300 digits, raised ValueError
        # (a 500); an id has at most 19 digits.
        officer = officers.filter(pk=pk).first() if pk.isdecimal() and len(pk) <= 19 else None
        if officer is None:
            raise Http404
        form = ReasonForm(request.POST)
        try:
            if request.POST.get("action") == "approve":
                accounts.officer_approve(officer=officer, approver=request.user)
                messages.success(request, _("%(email)s is approved.") % {"email": officer.email})
            elif form.is_valid():
                accounts.officer_revoke_approval(
                    officer=officer, approver=request.user, reason=form.cleaned_data["reason"]
                )
                messages.success(
                    request,
                    _("%(email)s can no longer submit requests.") % {"email": officer.email},
                )
            else:
                messages.error(request, _("Give a reason to revoke an approval."))
        except (ValidationError, PermissionDenied) as problem:
            messages.error(request, " ".join(getattr(problem, "messages", [str(problem)])))
        return redirect("authorities:officers")
    return render(request, "authorities/officers.html", {"officers": officers})


# --- The user's own account -------------------------------------------------------------------


@public
@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The header's language picker: Django's set_language (the language cookie), open to
    anyone; a logged-in user's choice is also kept on the account, for e-mails and next logins."""
    response = i18n.set_language(request)
    if request.user.is_authenticated:
        accounts.user_preferences_update(user=request.user, language=request.POST.get("language"))
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """E-mail and second factor: each change asks for a fresh code (step-up). Language and time
    zone (action "preferences") need none."""
    user = request.user
    action = request.POST.get("action")
    email_form = EmailChangeForm(request.POST if action == "email" else None)
    otp_form = ReplaceSecondFactorForm(request.POST if action == "otp" else None)
    preferences_form = PreferencesForm(
        request.POST if action == "preferences" else None,
        initial={"language": user.preferred_language, "time_zone": user.time_zone},
    )
    if request.method == "POST" and action == "preferences":
        if preferences_form.is_valid():
            accounts.user_preferences_update(user=user, **preferences_form.cleaned_data)
            with translation.override(user.preferred_language):
                messages.success(request, _("Your preferences are saved."))
            return remember_language(redirect("authorities:account"), user.preferred_language)
    elif request.method == "POST":
        form = email_form if request.POST.get("action") == "email" else otp_form
        if form.is_valid():
            step_up = fresh_second_factor(request, form.cleaned_data["otp_token"])
            if not step_up:
                form.add_error("otp_token", step_up.wait_message or _("That code is not right."))
            elif form is email_form:
                try:
                    devices.email_change_request(
                        user=user, new_email=form.cleaned_data["new_email"], ip=client_ip(request)
                    )
                except ValidationError as problem:
                    form.add_error("new_email", problem.messages[0])
                else:
                    messages.success(request, _("We sent a confirmation link to the new address."))
                    return redirect("authorities:account")
            else:
                second_factor.otp_replace(user=user, ip=client_ip(request))
                return redirect("authorities:enrol")
    return render(
        request,
        "authorities/account.html",
        {
            "email_form": email_form,
            "otp_form": otp_form,
            "preferences_form": preferences_form,
            # An officer awaiting approval (after a staff reset of the second factor, possibly
            # someone holding only the mailbox) sees nothing of the officer's, browsers included.
            "devices": []
            if user.is_officer and not user.is_approved
            else user.known_devices.order_by("-last_seen")[:10],
        },
    )


@never_cache
@sensitive_post_parameters("code")
@require_POST
def backup_codes_download(request: HttpRequest) -> HttpResponse:
    """The backup codes just shown, as a text file to keep. The portal keeps only their hashes,
    so the page posts back the codes it shows; they are echoed only if each is an unused code
    of this user (a verified session, whose owner the page has just shown them to), and the
    response is never cached. A guess gains nothing: 50 random bits a code."""
    user = request.user
    codes = request.POST.getlist("code")
    if not selectors.backup_codes_unused(user, codes):
        return HttpResponseBadRequest(
            _("These are not your current backup codes: nothing to download."),
            content_type="text/plain; charset=utf-8",
        )
    lines = [
        _("EU Authority Request Portal: backup codes"),
        _("Account: %(email)s") % {"email": user.email},
        _("Each code works once, if you lose your phone. Keep this file somewhere safe."),
        "",
        *codes,
        "",
    ]
    response = HttpResponse("\n".join(lines), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="backup-codes.txt"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def email_confirm(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST":
        try:
            devices.email_change_confirm(user=request.user, token=token, ip=client_ip(request))
        except accounts.InvalidLink as problem:
            messages.error(request, str(problem))
        else:
            messages.success(request, _("Your e-mail address is changed."))
        return redirect("authorities:account")
    return render(request, "authorities/email_confirm.html", {})
