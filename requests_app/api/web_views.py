"""The officer's pages for the API: their clients (register, see, revoke) and the emergencies
a client asked to submit, which wait for the officer's confirmation with a fresh second factor."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from authorities import second_factor
from authorities.passkey_views import passkey_required_response
from authorities.stepup import fresh_second_factor
from portal.http import client_ip
from requests_app import selectors
from requests_app.policies import Capability, capability_required

from . import services, webhooks
from .forms import ApiClientForm, EmergencyConfirmForm, WebhookForm, WebhookRotateForm
from .models import ApiClient, EmergencyConfirmation, WebhookEndpoint

submitter_only = capability_required(Capability.SUBMIT)


@submitter_only
@never_cache
@require_http_methods(["GET", "POST"])
def client_list(request: HttpRequest) -> HttpResponse:
    """The officer's API clients and the form to register one. A registered client's token is
    shown on the answer to the post, once: it is not stored."""
    officer = request.user
    form = ApiClientForm(request.POST or None)
    token = None
    if request.method == "POST" and form.is_valid():
        step_up = fresh_second_factor(request, form.cleaned_data["otp_token"])
        if not step_up:
            form.add_error(
                "otp_token",
                step_up.wait_message or gettext("That code is not right: it needs a fresh code."),
            )
    if request.method == "POST" and form.is_valid():
        try:
            client, token = services.api_client_register(
                officer=officer,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                days=form.cleaned_data["days"],
                allowed_ips=form.cleaned_data["allowed_ips"],
            )
            form = ApiClientForm()
        except ValidationError as problem:
            if hasattr(problem, "error_dict"):
                for field, errors in problem.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error("allowed_ips", problem.messages)
        except PermissionDenied as problem:
            messages.error(request, str(problem))
    return render(
        request,
        "api/clients.html",
        {
            "form": form,
            "token": token,
            "clients": ApiClient.objects.filter(officer=officer),
            "emergencies": services.emergencies_awaiting(officer),
        },
        status=200,
    )


def _own_client(request: HttpRequest, client_id) -> ApiClient:
    """The officer's own client; anyone else's (a colleague's too) is a 404."""
    client = ApiClient.objects.filter(public_id=client_id, officer=request.user).first()
    if client is None:
        raise Http404
    return client


def _step_up_ok(request: HttpRequest, form) -> bool:
    step_up = fresh_second_factor(request, form.cleaned_data["otp_token"])
    if not step_up:
        form.add_error(
            "otp_token",
            step_up.wait_message or gettext("That code is not right: it needs a fresh code."),
        )
    return bool(step_up)


def _client_page(request: HttpRequest, client: ApiClient, **context) -> HttpResponse:
    endpoint = WebhookEndpoint.objects.filter(client=client).first()
    context.setdefault("form", WebhookForm(initial={"url": endpoint.url} if endpoint else None))
    context.setdefault("rotate_form", WebhookRotateForm(prefix="rotate"))
    return render(
        request,
        "api/client_detail.html",
        {
            "client": client,
            "endpoint": endpoint,
            "attempts": webhooks.webhook_attempts_for_owner(request.user, client),
            "grace_hours": int(webhooks.ROTATION_GRACE.total_seconds() // 3600),
            "secret": None,
            **context,
        },
    )


@submitter_only
@never_cache
@require_http_methods(["GET", "POST"])
def client_detail(request: HttpRequest, client_id) -> HttpResponse:
    """One of the officer's clients: its webhook (set the address; a new endpoint's secret is
    shown on the answer to the post, once) and the last delivery attempts."""
    client = _own_client(request, client_id)
    if request.method == "GET":
        return _client_page(request, client)
    form = WebhookForm(request.POST)
    secret = None
    if form.is_valid() and _step_up_ok(request, form):
        try:
            _, secret = webhooks.webhook_endpoint_set(
                officer=request.user, client=client, url=form.cleaned_data["url"]
            )
        except ValidationError as problem:
            form.add_error("url", problem.messages)
        else:
            messages.success(request, gettext("The webhook address is saved."))
            return _client_page(request, client, secret=secret or None)
    return _client_page(request, client, form=form)


@submitter_only
@never_cache
@require_POST
def webhook_rotate(request: HttpRequest, client_id) -> HttpResponse:
    """A new secret, shown once; the old one keeps signing for the grace period."""
    client = _own_client(request, client_id)
    if not WebhookEndpoint.objects.filter(client=client).exists():
        raise Http404
    form = WebhookRotateForm(request.POST, prefix="rotate")
    if form.is_valid() and _step_up_ok(request, form):
        secret = webhooks.webhook_secret_rotate(officer=request.user, client=client)
        return _client_page(request, client, secret=secret)
    return _client_page(request, client, rotate_form=form)


@submitter_only
@require_POST
def webhook_disable(request: HttpRequest, client_id) -> HttpResponse:
    client = _own_client(request, client_id)
    webhooks.webhook_endpoint_disable(officer=request.user, client=client)
    messages.success(request, gettext("The webhook is off: no more events are sent."))
    return redirect("api_clients:detail", client.public_id)


@submitter_only
@require_POST
def client_revoke(request: HttpRequest, client_id) -> HttpResponse:
    client = ApiClient.objects.filter(public_id=client_id, officer=request.user).first()
    if client is None:
        raise Http404
    services.api_client_revoke(user=request.user, client=client)
    messages.success(request, gettext("The token is revoked: it no longer works."))
    return redirect("api_clients:list")


@submitter_only
@never_cache
@require_http_methods(["GET", "POST"])
def emergency_confirm(request: HttpRequest, public_id) -> HttpResponse:
    """An emergency a client asked to submit: the officer reads it and confirms it with a fresh
    code, in a session verified as the emergency policy asks (a passkey, where it applies)."""
    officer = request.user
    legal_request = selectors.legal_request_get_for_officer(officer, public_id)
    confirmation = EmergencyConfirmation.objects.filter(
        legal_request=legal_request, confirmed_at__isnull=True, legal_request__officer=officer
    ).first()
    if confirmation is None:
        raise Http404
    here = reverse("api_clients:confirm", args=[legal_request.public_id])
    if not second_factor.session_may(request, second_factor.EMERGENCY_SUBMIT):
        return passkey_required_response(request, second_factor.EMERGENCY_SUBMIT, here)
    form = EmergencyConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        step_up = fresh_second_factor(request, form.cleaned_data["otp_token"])
        if not step_up:
            form.add_error(
                "otp_token",
                step_up.wait_message
                or gettext("That code is not right: confirm with a fresh code."),
            )
        else:
            try:
                submitted = services.emergency_confirm(
                    officer=officer,
                    legal_request=legal_request,
                    ip=client_ip(request),
                    device_id=second_factor.session_device_id(request),
                )
            except second_factor.PasskeyRequired as refusal:
                return passkey_required_response(request, refusal.action, here)
            except (ValidationError, PermissionDenied) as problem:
                messages.error(request, " ".join(getattr(problem, "messages", [str(problem)])))
                return redirect("requests:edit", legal_request.public_id)
            messages.success(
                request,
                gettext("Emergency request %(reference)s confirmed and submitted.")
                % {"reference": submitted.reference},
            )
            return redirect("requests:detail", submitted.public_id)
    return render(
        request,
        "api/emergency_confirm.html",
        {"legal_request": legal_request, "confirmation": confirmation, "form": form},
    )
