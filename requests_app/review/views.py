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
from ..trust import signature_panel
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
    LegalHoldForm,
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
    """The request, its evidence and the actions open to the reader. An action's form is
    rendered only once opened (?action=refuse): the page lists the actions, and stays light."""
    legal_request = selectors.legal_request_get_for_legal_team(request.user, public_id)
    return _detail_page(request, legal_request, opened=request.GET.get("action", ""))


def _detail_page(
    request: HttpRequest, legal_request: LegalRequest, *, opened: str, form=None
) -> HttpResponse:
    """The detail page, with the action `opened` showing its form: blank when opened from the
    list, or `form` as posted (its errors and what was typed) when an action was refused."""
    audit.request_view_record(user=request.user, legal_request=legal_request, ip=client_ip(request))
    officer = legal_request.officer
    known = instruments.is_known(legal_request.instrument)
    now = timezone.now()
    # What this user may do to this request now ({% if actions.close %}), and why not.
    actions = policies.offered(request.user, legal_request, ACTIONS)
    entry = ACTIONS.get(opened)
    if form is None and entry is not None and entry.form is not None and actions[opened]:
        form = _blank_form(entry, request, legal_request)
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
        "signed_documents": signature_panel(legal_request),
        "disclosure_problems": policies.emergency_disclosure_problems(legal_request, request.user),
        "actions": actions,
        # The action bar: every action open now, in the order of ACTIONS.
        "action_list": [_offered(name, entry) for name, entry in ACTIONS.items() if actions[name]],
        "opened": _offered(opened, entry, form) if form is not None and entry else None,
        "open_statuses": OPEN_STATUSES,
    }
    return render(request, "requests_app/review/detail.html", context)


def _offered(name: str, entry: "ReviewAction", form=None) -> dict:
    return {
        "name": name,
        "label": entry.label or name,
        "style": entry.style,
        "confirm": entry.confirm,
        "note": entry.note,
        "has_form": entry.form is not None,
        "multipart": entry.multipart,
        "form": form,
    }


def _blank_form(entry: "ReviewAction", request: HttpRequest, legal_request: LegalRequest):
    if entry.blank is not None:
        return entry.blank(request, legal_request)
    # The action's own form, built as for a POST: on a GET its data are empty, and unbound it
    # shows empty fields instead of "This field is required".
    form = entry.form(request)
    form.is_bound = False
    return form


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
    policies.RULES[name]: the service asks it too. The page's action bar lists every entry the
    reader may do now, in this table's order (templates/requests_app/review/_action_bar.html):
    a new action needs an entry here and a rule, no template change."""

    form: Callable[[HttpRequest], object] | None
    perform: Callable[[HttpRequest, LegalRequest, dict], object]
    done: str
    # A check of the session before the form is read; a response to send instead, or None.
    before: Callable[[HttpRequest, LegalRequest], HttpResponse | None] | None = None
    # How the page offers it: the button's words, its look ("" the main one, "secondary",
    # "danger"), the question asked before a destructive post, a line above its form.
    label: str = ""
    style: str = ""
    confirm: str = ""
    note: str = ""
    multipart: bool = False
    # The form as the page opens it, when it needs to know the request (None: `form`, unbound).
    blank: Callable[[HttpRequest, LegalRequest], object] | None = None


ACTIONS: dict[str, ReviewAction] = {
    "assign": ReviewAction(
        lambda request: AssignForm(request.POST, members=_assignable(request.user)),
        lambda request, legal_request, data: services.legal_request_assign(
            actor=request.user, legal_request=legal_request, assignee=data["assignee"]
        ),
        _("Assignment saved."),
        label=_("Assign"),
        style="secondary",
        blank=lambda request, legal_request: AssignForm(
            members=_assignable(request.user), initial={"assignee": legal_request.assignee_id}
        ),
    ),
    "accept": ReviewAction(
        None,
        lambda request, legal_request, data: services.legal_request_accept(
            reviewer=request.user, legal_request=legal_request
        ),
        _("Accepted for review."),
        label=_("Accept for review"),
    ),
    "clarify": ReviewAction(
        lambda request: ClarificationForm(request.POST),
        lambda request, legal_request, data: services.legal_request_ask_clarification(
            reviewer=request.user, legal_request=legal_request, question=data["question"]
        ),
        _("Clarification requested; the clock is stopped."),
        label=_("Ask for clarification"),
        style="secondary",
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
        label=_("Respond with produced data"),
        multipart=True,
        blank=lambda request, legal_request: RespondForm(legal_request=legal_request),
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
        label=_("Confirm the removal"),
        note=_("Confirm the removal or disabling of access: no file is needed."),
        blank=lambda request, legal_request: RemovalForm(
            initial={"removed_at": timezone.now().replace(second=0, microsecond=0)}
        ),
    ),
    "answer": ReviewAction(
        lambda request: AnswerForm(request.POST),
        lambda request, legal_request, data: services.legal_request_answer(
            reviewer=request.user, legal_request=legal_request, answer=data["answer"]
        ),
        _("Answer sent to the authority."),
        label=_("Send the answer"),
    ),
    "message_officer": ReviewAction(
        lambda request: PlatformMessageForm(request.POST),
        lambda request, legal_request, data: services.message_post_by_platform(
            reviewer=request.user, legal_request=legal_request, body=data["body"]
        ),
        _("Message sent; the clock keeps running."),
        label=_("Send the message (the clock keeps running)"),
        style="secondary",
    ),
    "preserve": ReviewAction(
        None,
        lambda request, legal_request, data: services.legal_request_confirm_preservation(
            reviewer=request.user, legal_request=legal_request
        ),
        _("Preservation confirmed."),
        label=_("Confirm preservation"),
    ),
    "confirm_extension": ReviewAction(
        None,
        lambda request, legal_request, data: services.legal_request_confirm_extension(
            reviewer=request.user, legal_request=legal_request
        ),
        _("Extension confirmed."),
        label=_("Confirm the 30-day extension"),
        style="secondary",
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
        label=_("Refuse"),
        style="danger",
        confirm=_("Refuse this request? The authority is told at once."),
    ),
    "close": ReviewAction(
        lambda request: CloseForm(request.POST),
        lambda request, legal_request, data: services.legal_request_close(
            reviewer=request.user, legal_request=legal_request, note=data["note"]
        ),
        _("Closed."),
        label=_("Close"),
        style="danger",
        confirm=_("Close this request?"),
    ),
    "record_deletion": ReviewAction(
        lambda request: DeletionForm(request.POST),
        lambda request, legal_request, data: services.legal_request_record_deletion(
            reviewer=request.user, legal_request=legal_request, note=data["note"]
        ),
        _("Deletion recorded."),
        label=_("Record the deletion"),
        note=_("The data of this request are due for deletion."),
    ),
    # A lead keeps the request's files past their retention (docs/security.md, "Custody").
    "legal_hold": ReviewAction(
        lambda request: LegalHoldForm(request.POST),
        lambda request, legal_request, data: services.legal_hold_set(
            lead=request.user, legal_request=legal_request, reason=data["reason"]
        ),
        _("Legal hold set: no file of this request is purged until it is released."),
        label=_("Set a legal hold (lead)"),
        style="secondary",
        note=_("While held, the request's files are kept past their retention period."),
    ),
    "legal_hold_release": ReviewAction(
        None,
        lambda request, legal_request, data: services.legal_hold_release(
            lead=request.user, legal_request=legal_request
        ),
        _("Legal hold released."),
        label=_("Release the legal hold (lead)"),
        style="secondary",
        confirm=_("Release the legal hold? Files past their retention are then purged."),
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
        label=_("Record the call-back"),
    ),
    "approve": ReviewAction(
        lambda request: ApproveDisclosureForm(request.POST),
        _approve,
        _("Emergency disclosure approved."),
        before=_approve_needs_passkey,
        label=_("Approve the emergency disclosure (lead)"),
    ),
}


@capability_required(Capability.VIEW_REQUEST)
@require_POST
@upload_limit
def action(request: HttpRequest, public_id, name: str) -> HttpResponse:
    """One URL per action (ACTIONS); each calls its service, which asks the policy again. A form
    refused (its input, or the service's rule of the moment) comes back on the page with its
    errors and what was typed; a bare button's refusal is a message."""
    legal_request = selectors.legal_request_get_for_legal_team(request.user, public_id)
    entry = ACTIONS.get(name)
    if entry is None:
        raise Http404
    # Someone who may never do this (an auditor, a reviewer approving) was offered no button:
    # a 403. A refusal of the moment (the request's state, the input) is said on the page.
    policies.may(request.user, name).raise_if_refused()
    if entry.before is not None and (response := entry.before(request, legal_request)):
        return response
    form = entry.form(request) if entry.form else None
    if form is not None and not form.is_valid():
        return _detail_page(request, legal_request, opened=name, form=form)
    try:
        entry.perform(request, legal_request, form.cleaned_data if form is not None else {})
    except ValidationError as problem:
        if form is None:
            messages.error(request, _problem_text(problem))
            return redirect("review:detail", legal_request.public_id)
        form.add_error(None, _problem_text(problem))
        # Read again: the service may have changed the instance before it refused.
        legal_request = selectors.legal_request_get_for_legal_team(request.user, public_id)
        return _detail_page(request, legal_request, opened=name, form=form)
    except PermissionDenied as problem:
        messages.error(request, _problem_text(problem))
        return redirect("review:detail", legal_request.public_id)
    messages.success(request, entry.done)
    return redirect("review:detail", legal_request.public_id)


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
