"""The enforcing authority's pages (e-Evidence Art. 8, 10, 12): the orders that name its
authority, read-only with their documents, and its two actions, each confirmed with a fresh
second-factor code. To anyone else every page is a 404 (selectors decide)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from authorities.stepup import fresh_second_factor
from portal.http import client_ip

from . import enforcing, instruments, policies, selectors
from .audit import request_view_record
from .enforcing_forms import ConfirmNoGroundForm, RaiseGroundForm
from .policies import Capability, capability_required
from .views import _problem_text, attachment_response

enforcer_only = capability_required(Capability.ENFORCE)


@enforcer_only
@never_cache
@require_safe
def order_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "requests_app/enforcing/list.html",
        {
            "orders": selectors.legal_requests_for_enforcer(request.user)[:200],
            "now": timezone.now(),
        },
    )


@enforcer_only
@never_cache
@require_safe
def order_detail(request: HttpRequest, public_id) -> HttpResponse:
    legal_request = selectors.legal_request_get_for_enforcer(request.user, public_id)
    request_view_record(user=request.user, legal_request=legal_request, ip=client_ip(request))
    return render(
        request,
        "requests_app/enforcing/detail.html",
        {
            "legal_request": legal_request,
            "rule": instruments.rule_for(legal_request.instrument),
            "decide": policies.decide(request.user, "enforcing_decide", legal_request),
            "confirm_form": ConfirmNoGroundForm(),
            "ground_form": RaiseGroundForm(legal_request=legal_request),
            "now": timezone.now(),
        },
    )


@enforcer_only
@never_cache
@require_safe
def order_attachment(request: HttpRequest, public_id, attachment_id) -> HttpResponse:
    document = selectors.attachment_get_for_enforcer(request.user, public_id, attachment_id)
    return attachment_response(request, document)


def _fresh_code(request: HttpRequest, form) -> None:
    if not form.is_valid():
        raise ValidationError([e for errors in form.errors.values() for e in errors])
    step_up = fresh_second_factor(request, form.cleaned_data["otp_token"])
    if not step_up:
        raise PermissionDenied(
            step_up.wait_message
            or gettext("That code is not right: this action needs a fresh code.")
        )


@enforcer_only
@require_POST
def order_confirm(request: HttpRequest, public_id) -> HttpResponse:
    legal_request = selectors.legal_request_get_for_enforcer(request.user, public_id)
    try:
        _fresh_code(request, ConfirmNoGroundForm(request.POST))
        enforcing.enforcing_confirm_no_ground(officer=request.user, legal_request=legal_request)
        messages.success(
            request,
            gettext(
                "Recorded: no ground for refusal. The platform and the issuing authority are told."
            ),
        )
    except (PermissionDenied, ValidationError) as problem:
        messages.error(request, _problem_text(problem))
    return redirect("enforcing:detail", legal_request.public_id)


@enforcer_only
@require_POST
def order_grounds(request: HttpRequest, public_id) -> HttpResponse:
    legal_request = selectors.legal_request_get_for_enforcer(request.user, public_id)
    form = RaiseGroundForm(request.POST, legal_request=legal_request)
    try:
        _fresh_code(request, form)
        enforcing.enforcing_raise_grounds(
            officer=request.user,
            legal_request=legal_request,
            grounds=form.grounds(),
        )
        messages.success(
            request,
            gettext(
                "Ground for refusal recorded. The platform and the issuing authority are told."
            ),
        )
    except (PermissionDenied, ValidationError) as problem:
        messages.error(request, _problem_text(problem))
    return redirect("enforcing:detail", legal_request.public_id)
