"""The legal team's screens: queue, request detail with the verification panel, actions, lead
dashboard. Every page is 404 to anyone outside the legal team (selectors decide)."""

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from authorities import second_factor
from authorities.constants import COUNTRY_CHOICES, Instrument
from authorities.passkey_views import passkey_required_response
from authorities.selectors import address_belongs_to
from authorities.stepup import fresh_second_factor
from portal.http import client_ip
from portal.ratelimits import upload_limit

from .. import audit, instruments, policies, reports, selectors
from ..ex_post_validation import validation_state
from ..holds import enforcing_state_of
from ..models import OPEN_STATUSES, AccessLog, LegalRequest, Status
from ..policies import Capability, capability_required
from ..preservation import preservation_state
from ..risk import review_panel
from ..views import _problem_text, attachment_response
from . import services
from .forms import (
    AnswerForm,
    ApproveDisclosureForm,
    AssignForm,
    CallbackForm,
    ClarificationForm,
    CloseForm,
    DeletionForm,
    PlatformMessageForm,
    RefuseForm,
    RemovalForm,
    ReportPeriodForm,
    RespondForm,
)


@capability_required(Capability.VIEW_QUEUE)
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
        sort=get.get("sort", "") if get.get("sort") in selectors.QUEUE_SORTS else "due",
    )
    page = selectors.review_queue(request.user, filters, cursor=get.get("after"))
    query = get.copy()
    query.pop("after", None)
    # The column headers' links: the same filters, another order (the first page).
    unsorted = query.copy()
    unsorted.pop("sort", None)
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
            "authorities": selectors.queue_authorities(),
            "unsorted": unsorted.urlencode(),
            # For the countdown of static/js/queue.js: notifications.format_duration's words.
            "countdown": {
                "left": gettext("%(duration)s left"),
                "overdue": gettext("overdue by %(duration)s"),
                "days": gettext("%(days)s d"),
                "hours": gettext("%(hours)s h"),
                "minutes": gettext("%(minutes)s min"),
            },
            "now": timezone.now(),
        },
    )


def _unknown_instrument(code: str) -> str:
    # The lead dashboard links here from "alerts failing": the page must open and say why.
    return gettext(
        "The instrument code %(code)s is not in the rule table (a retired instrument or a bad "
        "edit): its deadline and the issuer's powers cannot be checked until it is corrected."
    ) % {"code": code}


def _assignable(user):
    # Only those the service would accept: a reviewer takes a request, a lead gives it to anyone.
    members = selectors.legal_team_members()
    return members if policies.has(user, Capability.ASSIGN_OTHERS) else members.filter(pk=user.pk)


@capability_required(Capability.VIEW_REQUEST)
@never_cache
@require_safe
def detail(request: HttpRequest, public_id) -> HttpResponse:
    legal_request = selectors.legal_request_get_for_legal_team(request.user, public_id)
    audit.access_log_record(
        user=request.user,
        action=AccessLog.Action.VIEW_REQUEST,
        legal_request=legal_request,
        object_ref=legal_request.reference,
        ip=client_ip(request),
    )
    officer = legal_request.officer
    known = instruments.is_known(legal_request.instrument)
    now = timezone.now()
    context = {
        "legal_request": legal_request,
        "rule": instruments.rule_for(legal_request.instrument) if known else None,
        "now": now,
        "preservation": preservation_state(legal_request, now),
        "validation": validation_state(legal_request, now),
        "approval_needs_passkey": not second_factor.session_may(
            request, second_factor.EMERGENCY_APPROVAL
        ),
        "domain_matches": address_belongs_to(officer.email, legal_request.authority_id),
        "power_problems": instruments.power_problems(
            authority=legal_request.authority,
            instrument=legal_request.instrument,
            categories=list(legal_request.data_categories),
            validating_authority=legal_request.validating_authority,
            emergency=legal_request.is_emergency,
            threshold_met=legal_request.threshold_met,
        )
        | instruments.notification_problems(
            instrument=legal_request.instrument,
            categories=list(legal_request.data_categories),
            notified=legal_request.enforcing_notified,
            statement=legal_request.art8_2_statement,
            enforcing_authority=legal_request.enforcing_authority,
            enforcing_state=enforcing_state_of(legal_request),
        )
        if known
        else {"__all__": [_unknown_instrument(legal_request.instrument)]},
        "risk": review_panel(legal_request),
        "disclosure_problems": policies.emergency_disclosure_problems(legal_request, request.user),
        # What this user may do to this request now ({% if actions.close %}), and why not.
        "actions": policies.offered(request.user, legal_request, ACTIONS),
        "assign_form": AssignForm(
            members=_assignable(request.user), initial={"assignee": legal_request.assignee_id}
        ),
        "clarification_form": ClarificationForm(),
        "refuse_form": RefuseForm(),
        "respond_form": RespondForm(legal_request=legal_request),
        "removal_form": RemovalForm(initial={"removed_at": now.replace(second=0, microsecond=0)}),
        "answer_form": AnswerForm(),
        "platform_message_form": PlatformMessageForm(),
        "callback_form": CallbackForm(),
        "close_form": CloseForm(),
        "deletion_form": DeletionForm(),
        "approve_form": ApproveDisclosureForm(),
        "open_statuses": OPEN_STATUSES,
    }
    return render(request, "requests_app/review/detail.html", context)


@capability_required(Capability.VIEW_REQUEST)
@never_cache
@require_safe
def attachment(request: HttpRequest, public_id, attachment_id) -> HttpResponse:
    document = selectors.attachment_get_for_legal_team(request.user, public_id, attachment_id)
    return attachment_response(request, document)


def _approve_needs_passkey(request: HttpRequest, legal_request: LegalRequest):
    if second_factor.session_may(request, second_factor.EMERGENCY_APPROVAL):
        return None
    return passkey_required_response(
        request,
        second_factor.EMERGENCY_APPROVAL,
        reverse("review:detail", args=[legal_request.public_id]),
    )


def _approve(request: HttpRequest, legal_request: LegalRequest, data: dict) -> None:
    # A fresh second-factor code in the same form (step-up).
    step_up = fresh_second_factor(request, data["otp_token"])
    if not step_up:
        raise PermissionDenied(
            step_up.wait_message
            or gettext("That code is not right: the approval needs a fresh code.")
        )
    services.disclosure_approve(
        lead=request.user,
        legal_request=legal_request,
        device_id=second_factor.session_device_id(request),
    )


@dataclass(frozen=True)
class ReviewAction:
    """One action of the review page: the form it posts (None: a bare button), the service it
    calls with the form's data, and what the page says once done. Who may do it, and when, is
    policies.RULES[name]: the service asks it too."""

    form: Callable[[HttpRequest], object] | None
    perform: Callable[[HttpRequest, LegalRequest, dict], object]
    done: str
    # A check of the session before the form is read; a response to send instead, or None.
    before: Callable[[HttpRequest, LegalRequest], HttpResponse | None] | None = None


ACTIONS: dict[str, ReviewAction] = {
    "assign": ReviewAction(
        lambda request: AssignForm(request.POST, members=_assignable(request.user)),
        lambda request, legal_request, data: services.legal_request_assign(
            actor=request.user, legal_request=legal_request, assignee=data["assignee"]
        ),
        _("Assignment saved."),
    ),
    "accept": ReviewAction(
        None,
        lambda request, legal_request, data: services.legal_request_accept(
            reviewer=request.user, legal_request=legal_request
        ),
        _("Accepted for review."),
    ),
    "clarify": ReviewAction(
        lambda request: ClarificationForm(request.POST),
        lambda request, legal_request, data: services.legal_request_ask_clarification(
            reviewer=request.user, legal_request=legal_request, question=data["question"]
        ),
        _("Clarification requested; the clock is stopped."),
    ),
    "respond": ReviewAction(
        lambda request: RespondForm(request.POST, request.FILES),
        lambda request, legal_request, data: services.legal_request_respond(
            reviewer=request.user,
            legal_request=legal_request,
            files=data["files"],
            partial=data["partial"],
            note=data["note"],
            categories=data.get("categories") or None,
        ),
        _("Response delivered through the portal."),
    ),
    "confirm_removal": ReviewAction(
        lambda request: RemovalForm(request.POST),
        lambda request, legal_request, data: services.legal_request_confirm_removal(
            reviewer=request.user,
            legal_request=legal_request,
            removed_at=data["removed_at"],
            note=data["note"],
        ),
        _("Removal confirmed; the authority is told."),
    ),
    "answer": ReviewAction(
        lambda request: AnswerForm(request.POST),
        lambda request, legal_request, data: services.legal_request_answer(
            reviewer=request.user, legal_request=legal_request, answer=data["answer"]
        ),
        _("Answer sent to the authority."),
    ),
    "message_officer": ReviewAction(
        lambda request: PlatformMessageForm(request.POST),
        lambda request, legal_request, data: services.message_post_by_platform(
            reviewer=request.user, legal_request=legal_request, body=data["body"]
        ),
        _("Message sent; the clock keeps running."),
    ),
    "preserve": ReviewAction(
        None,
        lambda request, legal_request, data: services.legal_request_confirm_preservation(
            reviewer=request.user, legal_request=legal_request
        ),
        _("Preservation confirmed."),
    ),
    "confirm_extension": ReviewAction(
        None,
        lambda request, legal_request, data: services.legal_request_confirm_extension(
            reviewer=request.user, legal_request=legal_request
        ),
        _("Extension confirmed."),
    ),
    "refuse": ReviewAction(
        lambda request: RefuseForm(request.POST),
        lambda request, legal_request, data: services.legal_request_refuse(
            reviewer=request.user,
            legal_request=legal_request,
            ground=data["ground"],
            explanation=data["explanation"],
        ),
        _("Refused; the authority has the notice."),
    ),
    "close": ReviewAction(
        lambda request: CloseForm(request.POST),
        lambda request, legal_request, data: services.legal_request_close(
            reviewer=request.user, legal_request=legal_request, note=data["note"]
        ),
        _("Closed."),
    ),
    "record_deletion": ReviewAction(
        lambda request: DeletionForm(request.POST),
        lambda request, legal_request, data: services.legal_request_record_deletion(
            reviewer=request.user, legal_request=legal_request, note=data["note"]
        ),
        _("Deletion recorded."),
    ),
    "callback": ReviewAction(
        lambda request: CallbackForm(request.POST),
        lambda request, legal_request, data: services.callback_record(
            reviewer=request.user,
            legal_request=legal_request,
            outcome=data["outcome"],
            notes=data["notes"],
        ),
        _("Call-back recorded."),
    ),
    "approve": ReviewAction(
        lambda request: ApproveDisclosureForm(request.POST),
        _approve,
        _("Emergency disclosure approved."),
        before=_approve_needs_passkey,
    ),
}


@capability_required(Capability.VIEW_REQUEST)
@require_POST
@upload_limit
def action(request: HttpRequest, public_id, name: str) -> HttpResponse:
    """One URL per action (ACTIONS); each calls its service, which asks the policy again."""
    legal_request = selectors.legal_request_get_for_legal_team(request.user, public_id)
    entry = ACTIONS.get(name)
    if entry is None:
        raise Http404
    # Someone who may never do this (an auditor, a reviewer approving) was offered no button:
    # a 403. A refusal of the moment (the request's state, the input) is a message on the page.
    policies.may(request.user, name).raise_if_refused()
    if entry.before is not None and (response := entry.before(request, legal_request)):
        return response
    try:
        data = _valid(entry.form(request)).cleaned_data if entry.form else {}
        entry.perform(request, legal_request, data)
    except (PermissionDenied, ValidationError) as problem:
        messages.error(request, _problem_text(problem))
        return redirect("review:detail", legal_request.public_id)
    messages.success(request, entry.done)
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


@capability_required(Capability.VIEW_AUDIT)
@never_cache
@require_safe
def access_log(request: HttpRequest) -> HttpResponse:
    """The access log (who saw which request, opened which document, downloaded, exported),
    newest first, 100 rows a page; ?reference= narrows it to one request."""
    reference = request.GET.get("reference", "").replace("\x00", "").strip()[:20]
    before = request.GET.get("before", "")
    rows = selectors.access_log_page(
        request.user, reference=reference, before=int(before) if before.isdigit() else None
    )
    return render(
        request,
        "requests_app/review/audit.html",
        {
            "rows": rows,
            "reference": reference,
            "next_before": rows[-1].pk if len(rows) == 100 else None,
        },
    )


@capability_required(Capability.VIEW_DASHBOARD)
@never_cache
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    figures = reports.dashboard(request.user)
    form, start, end = _period(request)
    report = reports.transparency_report(request.user, start=start, end=end)
    return render(
        request,
        "requests_app/review/dashboard.html",
        {
            "figures": figures,
            "report": report,
            "form": form,
            "query": request.GET.urlencode(),
            "approvals_waiting": selectors.emergency_approvals_waiting(request.user),
        },
    )


@capability_required(Capability.VIEW_DASHBOARD)
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
    # Named by the period, both days included (end is the day after the last).
    last = end - timedelta(days=1)
    response["Content-Disposition"] = (
        f'attachment; filename="transparency-{start:%Y-%m-%d}_{last:%Y-%m-%d}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(["member_state", "instrument", "outcome", "requests"])
    with translation.override("en"):  # a data file: the same labels whoever downloads it
        for row in report:
            writer.writerow([row["country"], row["instrument"], row["outcome"], row["count"]])
    return response
