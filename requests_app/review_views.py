"""The legal team's screens: queue, request detail with the verification panel, actions, lead
dashboard. Every page is 404 to anyone outside the legal team (selectors decide)."""

import csv
from datetime import datetime, time, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from authorities import second_factor
from authorities.constants import COUNTRY_CHOICES, Instrument
from authorities.passkey_views import passkey_required_response
from authorities.selectors import authority_for_email
from authorities.stepup import fresh_second_factor
from portal.access import only_for
from portal.http import client_ip
from portal.ratelimits import upload_limit

from . import audit, instruments, reports, review, roles, selectors
from .models import OPEN_STATUSES, TRANSITIONS, AccessLog, Status
from .review_forms import (
    ApproveDisclosureForm,
    AssignForm,
    CallbackForm,
    ClarificationForm,
    CloseForm,
    RefuseForm,
    ReportPeriodForm,
    RespondForm,
)
from .risk import review_panel
from .views import _problem_text, attachment_response

legal_team_only = only_for(roles.is_legal_team)
lead_only = only_for(roles.is_lead)


@legal_team_only
@never_cache
@require_safe
def queue(request: HttpRequest) -> HttpResponse:
    get = request.GET

    def text(name: str, limit: int) -> str:
        # The filters go into SQL, and PostgreSQL refuses NUL in text (it was a 500).
        return get.get(name, "").replace("\x00", "")[:limit]

    filters = selectors.QueueFilters(
        status=get.get("status", "") if get.get("status", "") in Status.values else "",
        instrument=get.get("instrument", "") if get.get("instrument") in Instrument.values else "",
        country=text("country", 2).upper(),
        authority=text("authority", 40),
        assignee=text("assignee", 20),
        emergency=get.get("emergency") == "1",
        risk=get.get("risk") == "1",
        q=text("q", 200),
    )
    page = selectors.review_queue(request.user, filters, cursor=get.get("after"))
    query = get.copy()
    query.pop("after", None)
    return render(
        request,
        "requests_app/review/queue.html",
        {
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "statuses": [(v, label) for v, label in Status.choices if v != Status.DRAFT],
            "instruments": Instrument.choices,
            "countries": COUNTRY_CHOICES,
            "now": timezone.now(),
        },
    )


def _unknown_instrument(code: str) -> str:
    # The lead dashboard links here from "alerts failing": the page must open and say why.
    return gettext(
        "The instrument code %(code)s is not in the rule table (a retired instrument or a bad "
        "edit): its deadline and the issuer's powers cannot be checked until it is corrected."
    ) % {"code": code}


@legal_team_only
@never_cache
@require_safe
def detail(request: HttpRequest, public_id) -> HttpResponse:
    legal_request = selectors.legal_request_get_for_legal_team(request.user, public_id)
    audit.access_log_record(
        user=request.user,
        action=AccessLog.Action.VIEW_REQUEST,
        request=legal_request,
        object_ref=legal_request.reference,
        ip=client_ip(request),
    )
    officer = legal_request.officer
    match = authority_for_email(officer.email)
    allowed = TRANSITIONS[legal_request.status]
    known = instruments.is_known(legal_request.instrument)
    context = {
        "req": legal_request,
        "rule": instruments.rule_for(legal_request.instrument) if known else None,
        "now": timezone.now(),
        "is_lead": roles.is_lead(request.user),
        "approval_needs_passkey": not second_factor.session_may(
            request, second_factor.EMERGENCY_APPROVAL
        ),
        "domain_matches": match is not None and match.pk == legal_request.authority_id,
        "power_problems": instruments.power_problems(
            authority=legal_request.authority,
            instrument=legal_request.instrument,
            categories=list(legal_request.data_categories),
            validating_authority=legal_request.validating_authority,
            emergency=legal_request.is_emergency,
            threshold_met=legal_request.threshold_met,
        )
        if known
        else {"__all__": [_unknown_instrument(legal_request.instrument)]},
        "risk": review_panel(legal_request),
        "disclosure_problems": review.emergency_disclosure_problems(legal_request, request.user),
        "can": {
            "accept": Status.IN_REVIEW in allowed and legal_request.status == Status.SUBMITTED,
            "clarify": Status.CLARIFICATION in allowed,
            "refuse": Status.REFUSED in allowed,
            "respond": Status.RESPONDED in allowed or Status.PARTIALLY_RESPONDED in allowed,
            "preserve": Status.PRESERVED in allowed and legal_request.instrument == "epoc_pr",
            "close": Status.CLOSED in allowed,
            "assign": legal_request.status != Status.CLOSED,
        },
        "assign_form": AssignForm(
            members=selectors.legal_team_members(),
            initial={"assignee": legal_request.assignee_id},
        ),
        "clarification_form": ClarificationForm(),
        "refuse_form": RefuseForm(),
        "respond_form": RespondForm(),
        "callback_form": CallbackForm(),
        "close_form": CloseForm(),
        "approve_form": ApproveDisclosureForm(),
        "open_statuses": OPEN_STATUSES,
    }
    return render(request, "requests_app/review/detail.html", context)


@legal_team_only
@never_cache
@require_safe
def attachment(request: HttpRequest, public_id, attachment_id) -> HttpResponse:
    document = selectors.attachment_get_for_legal_team(request.user, public_id, attachment_id)
    audit.access_log_record(
        user=request.user,
        action=AccessLog.Action.OPEN_ATTACHMENT,
        request=document.request,
        object_ref=f"{document.original_name} ({document.public_id})",
        ip=client_ip(request),
    )
    return attachment_response(document)


ACTIONS = {
    "assign",
    "accept",
    "clarify",
    "refuse",
    "respond",
    "preserve",
    "confirm_extension",
    "close",
    "callback",
    "approve",
}


@legal_team_only
@require_POST
@upload_limit
def action(request: HttpRequest, public_id, name: str) -> HttpResponse:
    """One URL per action; each calls its service, which checks role and state again."""
    legal_request = selectors.legal_request_get_for_legal_team(request.user, public_id)
    if name not in ACTIONS:
        raise Http404
    user = request.user
    post, files = request.POST, request.FILES
    try:
        if name == "assign":
            form = AssignForm(post, members=selectors.legal_team_members())
            _valid(form)
            review.legal_request_assign(
                actor=user, request=legal_request, assignee=form.cleaned_data["assignee"]
            )
            done = gettext("Assignment saved.")
        elif name == "accept":
            review.legal_request_accept(reviewer=user, request=legal_request)
            done = gettext("Accepted for review.")
        elif name == "clarify":
            form = _valid(ClarificationForm(post))
            review.legal_request_ask_clarification(
                reviewer=user, request=legal_request, question=form.cleaned_data["question"]
            )
            done = gettext("Clarification requested; the clock is stopped.")
        elif name == "refuse":
            form = _valid(RefuseForm(post))
            review.legal_request_refuse(
                reviewer=user,
                request=legal_request,
                ground=form.cleaned_data["ground"],
                explanation=form.cleaned_data["explanation"],
            )
            done = gettext("Refused; the authority has the notice.")
        elif name == "respond":
            form = _valid(RespondForm(post, files))
            review.legal_request_respond(
                reviewer=user,
                request=legal_request,
                files=form.cleaned_data["files"],
                partial=form.cleaned_data["partial"],
                note=form.cleaned_data["note"],
            )
            done = gettext("Response delivered through the portal.")
        elif name == "preserve":
            review.legal_request_confirm_preservation(reviewer=user, request=legal_request)
            done = gettext("Preservation confirmed.")
        elif name == "confirm_extension":
            review.legal_request_confirm_extension(reviewer=user, request=legal_request)
            done = gettext("Extension confirmed.")
        elif name == "close":
            form = _valid(CloseForm(post))
            review.legal_request_close(
                reviewer=user, request=legal_request, note=form.cleaned_data["note"]
            )
            done = gettext("Closed.")
        elif name == "callback":
            form = _valid(CallbackForm(post))
            review.callback_record(
                reviewer=user,
                request=legal_request,
                outcome=form.cleaned_data["outcome"],
                notes=form.cleaned_data["notes"],
            )
            done = gettext("Call-back recorded.")
        else:  # approve: a fresh second-factor code in the same form (step-up)
            if not second_factor.session_may(request, second_factor.EMERGENCY_APPROVAL):
                return passkey_required_response(
                    request,
                    second_factor.EMERGENCY_APPROVAL,
                    reverse("review:detail", args=[legal_request.public_id]),
                )
            form = _valid(ApproveDisclosureForm(post))
            step_up = fresh_second_factor(request, form.cleaned_data["otp_token"])
            if not step_up:
                raise PermissionDenied(
                    step_up.wait_message
                    or gettext("That code is not right: the approval needs a fresh code.")
                )
            review.disclosure_approve(
                lead=user,
                request=legal_request,
                device_id=second_factor.session_device_id(request),
            )
            done = gettext("Emergency disclosure approved.")
    except PermissionDenied as problem:
        messages.error(request, _problem_text(problem))
        return redirect("review:detail", legal_request.public_id)
    except ValidationError as problem:
        messages.error(request, _problem_text(problem))
        return redirect("review:detail", legal_request.public_id)
    messages.success(request, done)
    return redirect("review:detail", legal_request.public_id)


def _valid(form):
    if not form.is_valid():
        raise ValidationError(
            [
                f"{form.fields[f].label if f in form.fields else ''}: {e}".lstrip(": ")
                for f, errors in form.errors.items()
                for e in errors
            ]
        )
    return form


def _period(request: HttpRequest) -> tuple[ReportPeriodForm, datetime, datetime]:
    today = timezone.now().date()
    form = ReportPeriodForm(request.GET or {"start": today - timedelta(days=90), "end": today})
    if form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    else:
        start, end = today - timedelta(days=90), today
    tz = timezone.get_current_timezone()
    return (
        form,
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


@lead_only
@never_cache
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    figures = reports.dashboard(request.user)
    form, start, end = _period(request)
    report = reports.transparency_report(request.user, start=start, end=end)
    return render(
        request,
        "requests_app/review/dashboard.html",
        {"figures": figures, "report": report, "form": form, "query": request.GET.urlencode()},
    )


@lead_only
@never_cache
@require_safe
def report_csv(request: HttpRequest) -> HttpResponse:
    _, start, end = _period(request)
    report = reports.transparency_report(request.user, start=start, end=end)
    audit.access_log_record(
        user=request.user,
        action=AccessLog.Action.EXPORT_REPORT,
        object_ref=f"{start:%Y-%m-%d}..{end:%Y-%m-%d}",
        ip=client_ip(request),
    )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="transparency-{start:%Y%m%d}-{end:%Y%m%d}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(["member_state", "instrument", "outcome", "requests"])
    with translation.override("en"):  # a data file: the same labels whoever downloads it
        for row in report:
            writer.writerow([row["country"], row["instrument"], row["outcome"], row["count"]])
    return response
