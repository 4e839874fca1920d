"""The authority's side: submit requests and follow them. Thin: forms check input, services act,
selectors read (and hide other authorities' requests as 404)."""

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.http import content_disposition_header, urlencode
from django.utils.translation import gettext, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from authorities import second_factor
from authorities.passkey_views import passkey_required_response
from portal import kept_forms
from portal.http import client_ip
from portal.ratelimits import submission_limit, upload_limit

from . import custody, instruments, policies, sealed_documents, selectors, services
from .audit import access_log_record, officer_read_record
from .ex_post_validation import validation_state
from .forms import (
    LegalRequestForm,
    MessageForm,
    PreservationEndForm,
    ProductionForm,
    ValidationForm,
    WithdrawForm,
    initial_from_request,
)
from .models import (
    AccessLog,
    Attachment,
    LegalRequest,
    OwedReceipt,
    RequestEvent,
    SealedDocument,
    SealedFile,
    Status,
)
from .notifications import format_duration
from .policies import Capability, capability_required
from .preservation import preservation_state
from .validation import submission_problems

logger = logging.getLogger(__name__)

officer_only = capability_required(Capability.FOLLOW)
submitter_only = capability_required(Capability.SUBMIT)


def _problem_text(problem: Exception) -> str:
    return " ".join(getattr(problem, "messages", None) or [str(problem)])


@officer_only
@never_cache
@require_safe
def request_list(request: HttpRequest) -> HttpResponse:
    officer = request.user
    status = request.GET.get("status") or None
    if status not in Status.values:
        status = None
    sort = request.GET.get("sort", "")
    if sort not in selectors.OFFICER_SORTS:
        sort = "urgency"
    # NUL cannot reach PostgreSQL in a query (it was a 500): what is left is searched.
    q = request.GET.get("q", "").replace("\x00", "").strip()[: selectors.OFFICER_SEARCH_MAX]
    requests = selectors.legal_requests_for_officer(officer, status=status, q=q, sort=sort)
    page = Paginator(requests, 25).get_page(request.GET.get("page"))
    # The page links keep the filters: only the non-default ones, encoded.
    kept = {"status": status, "q": q, "sort": "" if sort == "urgency" else sort}
    return render(
        request,
        "requests_app/list.html",
        {
            "page": page,
            "status": status,
            "statuses": Status.choices,
            "q": q,
            "sort": sort,
            "sorts": [
                ("urgency", gettext("Most urgent first")),
                ("due", gettext("Due date")),
                ("newest", gettext("Newest first")),
                ("oldest", gettext("Oldest first")),
            ],
            "query": urlencode({k: v for k, v in kept.items() if v}),
            "now": timezone.now(),
        },
    )


@submitter_only
@never_cache
@require_safe
def request_new(request: HttpRequest) -> HttpResponse:
    officer = request.user
    authority = officer.authority
    choices = [
        {
            "rule": rule,
            "allowed": authority.may_issue(code) and authority.kind in rule.issuer_kinds,
            "deadline": rule.deadline_text(emergency=rule.always_emergency),
        }
        for code, rule in instruments.RULES.items()
    ]
    return render(
        request,
        "requests_app/new.html",
        {
            "choices": [c for c in choices if not c["rule"].always_emergency],
            "emergency_choices": emergency_choices(officer),
            "blocked": policies.submit_block(officer),
        },
    )


def emergency_choices(officer) -> list[dict]:
    """Emergency: threat to life, first and apart on the officer's home and the instrument
    choice: the emergency instrument, then each instrument's emergency variant, as allowed."""
    authority = officer.authority
    choices = []
    for code, rule in instruments.RULES.items():
        if not rule.offers_emergency:
            continue
        url = reverse("requests:create", args=[code])
        choices.append(
            {
                "rule": rule,
                "variant": not rule.always_emergency,
                "url": url if rule.always_emergency else f"{url}?emergency=1",
                "allowed": authority.may_issue(code) and authority.kind in rule.issuer_kinds,
                "deadline": rule.deadline_text(emergency=True),
            }
        )
    # The emergency instrument first, then the variants.
    return sorted(choices, key=lambda c: c["variant"])


def _emergency_passkey_note(request: HttpRequest, instrument: str) -> str | None:
    """Said before the officer types an emergency request that this session could not submit
    (services.legal_request_submit refuses it): how to get a passkey-verified session."""
    rule = instruments.rule_for(instrument)
    if not (rule.emergency_allowed or rule.always_emergency):
        return None
    if second_factor.session_may(request, second_factor.EMERGENCY_SUBMIT):
        return None
    if second_factor.has_passkey(request.user):
        return gettext(
            "Emergency requests need a session verified with your passkey: confirm this "
            "session with it before you submit one."
        )
    return gettext("Emergency requests need a passkey: add one in your account.")


def _callback_phone(officer, instrument: str) -> str | None:
    """The registry's call-back number, shown on an emergency instrument's form: the only
    number the platform calls to confirm an emergency (review: the call-back step)."""
    if not instruments.rule_for(instrument).always_emergency:
        return None
    return officer.authority.callback_phone


def _save_from_form(request: HttpRequest, form: LegalRequestForm, instrument: str, draft=None):
    """Save the draft and its documents; then submit it if asked. Returns a response."""
    officer = request.user
    try:
        draft = services.legal_request_save_draft(
            officer=officer,
            instrument=instrument,
            data=form.request_data(),
            targets=form.cleaned_data.get("targets", []),
            legal_request=draft,
        )
        for uploaded, checked in form.cleaned_data.get("documents") or []:
            services.attachment_add(
                legal_request=draft, user=officer, uploaded=uploaded, checked=checked
            )
    except PermissionDenied as problem:
        messages.error(request, _problem_text(problem))
        return redirect("requests:new")
    if request.POST.get("action") != "submit":
        messages.success(
            request, gettext("Draft saved. You can come back to it from your requests.")
        )
        return redirect("requests:edit", draft.public_id)
    try:
        submitted = services.legal_request_submit(
            officer=officer,
            legal_request=draft,
            ip=client_ip(request),
            device_id=second_factor.session_device_id(request),
        )
    except second_factor.PasskeyRequired as refusal:
        # The draft is saved; the page says how to get a passkey-verified session, then back.
        return passkey_required_response(
            request, refusal.action, reverse("requests:edit", args=[draft.public_id])
        )
    except ValidationError:
        # The draft is saved: show what is missing next to each field, nothing typed is lost.
        messages.error(
            request, gettext("The request is saved as a draft but cannot be submitted yet.")
        )
        return redirect(f"{reverse('requests:edit', args=[draft.public_id])}?check=1")
    messages.success(
        request,
        gettext(
            "Request %(reference)s received on %(received)s. "
            "An acknowledgment is on its way to your e-mail."
        )
        % {
            "reference": submitted.reference,
            # The viewer's zone (portal.middleware), named: "2026-03-01 10:30 CET".
            "received": f"{timezone.localtime(submitted.received_at):%Y-%m-%d %H:%M %Z}",
        },
    )
    messages.info(request, what_happens_next(submitted))
    return redirect("requests:detail", submitted.public_id)


def _submission_preview(officer, form: LegalRequestForm, instrument: str, draft=None):
    """What would stop the submission, from what was typed, before anything is stored: the
    same check as the submit service (validation.submission_problems) on an unsaved copy. A
    field whose format is already wrong is left to the form's own error."""
    preview = LegalRequest(instrument=instrument, authority=officer.authority, officer=officer)
    if draft is not None:
        for name in services.OFFICER_FIELDS:
            setattr(preview, name, getattr(draft, name))
    for name, value in form.request_data().items():
        if name in services.OFFICER_FIELDS:
            setattr(preview, name, value)
    documents = form.cleaned_data.get("documents") or []
    has_document = bool(documents) or (
        draft is not None and draft.attachments.filter(purpose=Attachment.Purpose.ORDER).exists()
    )
    problems = submission_problems(
        preview,
        today=timezone.now().date(),
        targets=form.cleaned_data.get("targets") or [],
        has_order_document=has_document or "documents" in form.errors,
    )
    return {field: found for field, found in problems.items() if field not in form.errors}


def _refusal(request: HttpRequest, form: LegalRequestForm, instrument: str, draft=None):
    """On a post: None when the form may be saved (and submitted, if asked). Otherwise every
    problem at once (the form's own checks and, on submit, the submission's), a summary for the
    top of the page, and the names of the files to choose again; nothing is stored, so a
    failed submission leaves no draft behind."""
    valid = form.is_valid()
    submitting = request.POST.get("action") == "submit"
    if submitting:
        for field, problems in _submission_preview(request.user, form, instrument, draft).items():
            target = field if field in form.fields else None
            for problem in problems:
                form.add_error(target, problem)
    if valid and not form.errors:
        return None
    title = (
        gettext("The request was not submitted.")
        if submitting
        else gettext("The draft was not saved.")
    )
    return {
        "refusal": _problems_box(form, title),
        "reattach": [f.name for f in request.FILES.getlist("documents")],
    }


def _problems_box(form: LegalRequestForm, title: str) -> dict:
    """The summary at the top of the form: what is wrong, each problem once, with the count."""
    problems = form.problems()
    count = ngettext("%(count)d problem:", "%(count)d problems:", len(problems)) % {
        "count": len(problems)
    }
    return {"title": title, "count": count, "problems": problems}


def _restore_kept_typing(request: HttpRequest, form: LegalRequestForm) -> bool:
    """What the officer typed into this form before the session ended, posted and kept
    (portal.kept_forms), back in the fields after the new login; files are not kept. True when
    something came back."""
    kept = kept_forms.take(request)
    if kept is None:
        return False
    data = MultiValueDict(kept.data)
    for name, field in form.fields.items():
        if name != "documents":
            form.initial[name] = field.widget.value_from_datadict(data, MultiValueDict(), name)
    text = gettext("What you typed before your session ended is back in the form: check it.")
    if kept.files:
        text += " " + gettext("Attach these files again: %(files)s.") % {
            "files": ", ".join(kept.files)
        }
    messages.warning(request, text)
    return True


def what_happens_next(legal_request) -> str:
    """Said to the officer after submitting: for an emergency the call-back to the authority's
    registered number and the time left; otherwise the internal target and the legal limit."""
    now = timezone.now()
    due = legal_request.due_at
    left = format_duration(due - now) if due is not None else "—"
    due_text = f"{timezone.localtime(due):%Y-%m-%d %H:%M %Z}" if due is not None else "—"
    if legal_request.is_emergency:
        return gettext(
            "What happens next: the platform will call your authority back on its registered "
            "number to confirm the request before any disclosure. Time left: %(left)s "
            "(until %(due)s)."
        ) % {"left": left, "due": due_text}
    text = gettext("What happens next: the legal team answers by %(due)s (%(left)s left).") % {
        "due": due_text,
        "left": left,
    }
    if legal_request.legal_due_at is not None:
        legal = f"{timezone.localtime(legal_request.legal_due_at):%Y-%m-%d %H:%M %Z}"
        text += " " + gettext("Legal time limit: %(legal)s.") % {"legal": legal}
    return text


@submitter_only
@never_cache
@require_http_methods(["GET", "POST"])
@submission_limit
def request_create(request: HttpRequest, instrument: str) -> HttpResponse:
    officer = request.user
    if instrument not in instruments.RULES:
        raise Http404
    if (block := policies.submit_block(officer)) is not None:
        messages.error(request, block)
        return redirect("requests:new")
    form = LegalRequestForm(
        request.POST or None,
        request.FILES or None,
        instrument=instrument,
        initial={
            "language": officer.preferred_language,
            # From the emergency block of the instrument choice (emergency_choices).
            "is_emergency": request.GET.get("emergency") == "1",
        },
    )
    refused = None
    if request.method == "POST":
        refused = _refusal(request, form, instrument)
        if refused is None:
            return _save_from_form(request, form, instrument)
    else:
        _restore_kept_typing(request, form)
    return render(
        request,
        "requests_app/form.html",
        {
            "form": form,
            "rule": instruments.rule_for(instrument),
            "draft": None,
            "passkey_note": _emergency_passkey_note(request, instrument),
            "callback_phone": _callback_phone(officer, instrument),
            **(refused or {}),
        },
    )


@submitter_only
@never_cache
@require_http_methods(["GET", "POST"])
@submission_limit
def request_edit(request: HttpRequest, public_id) -> HttpResponse:
    officer = request.user
    draft = selectors.legal_request_get_for_officer(officer, public_id)
    if not policies.decide(officer, "edit_draft", draft):
        raise Http404
    if request.method == "POST" and request.POST.get("remove_attachment"):
        try:
            attachment = draft.attachments.filter(
                public_id=request.POST["remove_attachment"]
            ).first()
        except ValidationError:  # not a UUID (was a 500): no such document either
            attachment = None
        if attachment is None:
            raise Http404
        services.attachment_remove_from_draft(
            legal_request=draft, user=officer, attachment=attachment
        )
        messages.info(request, gettext("%(name)s removed.") % {"name": attachment.original_name})
        return redirect("requests:edit", draft.public_id)
    form = LegalRequestForm(
        request.POST or None,
        request.FILES or None,
        instrument=draft.instrument,
        initial=initial_from_request(draft),
    )
    refused = None
    if request.method == "POST":
        refused = _refusal(request, form, draft.instrument, draft=draft)
        if refused is None:
            return _save_from_form(request, form, draft.instrument, draft=draft)
    restored = request.method == "GET" and _restore_kept_typing(request, form)
    if request.method == "GET" and request.GET.get("check") and not restored:
        form = LegalRequestForm(
            initial_from_request(draft),
            instrument=draft.instrument,
        )
        form.is_valid()
        for field, problems in submission_problems(draft, today=timezone.now().date()).items():
            target = field if field in form.fields else None
            for problem in problems:
                form.add_error(target, problem)
        if form.errors:
            refused = {"refusal": _problems_box(form, gettext("Not ready to submit yet."))}
    return render(
        request,
        "requests_app/form.html",
        {
            "form": form,
            "rule": instruments.rule_for(draft.instrument),
            "draft": draft,
            "passkey_note": _emergency_passkey_note(request, draft.instrument),
            "callback_phone": _callback_phone(officer, draft.instrument),
            **(refused or {}),
        },
    )


OFFICER_ACTIONS = (
    "edit_draft",
    "delete_draft",
    "message",
    "withdraw",
    "extend_preservation",
    "confirm_production",
    "end_preservation",
    "record_validation",
    "copy",
)


@officer_only
@never_cache
@require_safe
def request_detail(request: HttpRequest, public_id) -> HttpResponse:
    officer = request.user
    legal_request = selectors.legal_request_get_for_officer(officer, public_id)
    officer_read_record(officer=officer, legal_request=legal_request, ip=client_ip(request))
    refusal = next(
        (e for e in legal_request.visible_events if e.kind == RequestEvent.Kind.REFUSED), None
    )
    now = timezone.now()
    sealed = legal_request.sealed_documents.all()
    manifest = SealedDocument.Kind.DELIVERY_MANIFEST
    return render(
        request,
        "requests_app/detail.html",
        {
            "legal_request": legal_request,
            # The sealed PDFs of the legal team's actions (sealed_documents.py): the notices
            # beside the receipt, the delivery manifests beside the produced data.
            "notices": [d for d in sealed if d.kind != manifest],
            "manifests": [d for d in sealed if d.kind == manifest],
            "rule": instruments.rule_for(legal_request.instrument),
            "message_form": MessageForm(),
            "withdraw_form": WithdrawForm(),
            "production_form": ProductionForm(),
            "preservation_end_form": PreservationEndForm(),
            "validation_form": ValidationForm(),
            # What this officer may do to this request now ({% if actions.withdraw %}).
            "actions": policies.offered(officer, legal_request, OFFICER_ACTIONS),
            "refusal": refusal,
            "preservation": preservation_state(legal_request, now),
            "validation": validation_state(legal_request, now),
            "now": now,
        },
    )


@officer_only
@never_cache
@require_safe
def attachment_download(request: HttpRequest, public_id, attachment_id) -> FileResponse:
    officer = request.user
    attachment = selectors.attachment_get_for_officer(officer, public_id, attachment_id)
    return attachment_response(request, attachment)


@officer_only
@never_cache
@require_safe
def receipt_download(request: HttpRequest, public_id) -> HttpResponse:
    """The request's sealed receipt (receipts.py), audited like any document opened; while it
    is still being sealed, a page that says so (409: try again shortly)."""
    receipt = selectors.receipt_get_for_officer(request.user, public_id)
    if isinstance(receipt, OwedReceipt):
        response = render(
            request,
            "requests_app/receipt_owed.html",
            {"legal_request": receipt.request},
            status=409,
        )
        response["Retry-After"] = "10"
        return response
    return attachment_response(request, receipt)


@officer_only
@never_cache
@require_safe
def sealed_document_download(request: HttpRequest, public_id, document_id) -> FileResponse:
    """A sealed notice or delivery manifest (sealed_documents.py), audited like the receipt."""
    document = selectors.sealed_document_get_for_officer(request.user, public_id, document_id)
    return attachment_response(request, document)


@officer_only
@never_cache
@require_safe
def produced_download(request: HttpRequest, public_id, produced_id) -> HttpResponse:
    """Produced data: only here, only until the link expires, and every attempt is logged."""
    produced = selectors.produced_get_for_officer(request.user, public_id, produced_id)
    refused, validation = produced_release(request, produced)
    if refused == "withdrawn":
        return render(
            request,
            "requests_app/withdrawn.html",
            {"produced": produced, "validation": validation},
            status=410,
        )
    if refused == "expired":
        return render(request, "requests_app/expired.html", {"produced": produced}, status=410)
    if refused == "purged":
        return _purged_response(request, produced)
    return produced_file_response(produced)


def produced_release(request: HttpRequest, produced) -> tuple[str | None, object]:
    """Whether produced data may be downloaded now, with the attempt in the access log: (None,
    validation) when it may; ("purged", validation) when its retention is over and the file is
    gone; ("withdrawn", validation) when its order's validation failed; ("expired", validation)
    when the link has expired. The pages and the API both ask here."""
    officer = request.user
    # The id last and whole (the log keeps 200 characters): the officer's home looks for it.
    ref = f"{produced.original_name[:150]} ({produced.public_id})"
    validation = validation_state(produced.request, timezone.now())
    if produced.purged_at is not None:
        # Past its retention, its key and bytes are gone (retention.py): nothing to give.
        access_log_record(
            user=officer,
            action=AccessLog.Action.DOWNLOAD_REFUSED,
            legal_request=produced.request,
            object_ref=f"{ref}: purged",
            ip=client_ip(request),
        )
        return "purged", validation
    if validation is not None and validation.failed:
        # e-Evidence Art. 4(5): an order whose validation was refused or lapsed is withdrawn;
        # its data may not be used, so the download is gone (410), with the reason.
        access_log_record(
            user=officer,
            action=AccessLog.Action.DOWNLOAD_REFUSED,
            legal_request=produced.request,
            object_ref=f"{ref}: validation {validation.state}",
            ip=client_ip(request),
        )
        return "withdrawn", validation
    if produced.is_expired:
        access_log_record(
            user=officer,
            action=AccessLog.Action.DOWNLOAD_REFUSED,
            legal_request=produced.request,
            object_ref=ref,
            ip=client_ip(request),
        )
        return "expired", validation
    access_log_record(
        user=officer,
        action=AccessLog.Action.DOWNLOAD_PRODUCED,
        legal_request=produced.request,
        object_ref=ref,
        ip=client_ip(request),
    )
    return None, validation


def produced_file_response(produced) -> HttpResponse:
    response = _decrypting_response(produced, produced.original_name, "application/octet-stream")
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "no-store"
    return response


def _decrypting_response(stored, name: str, content_type: str) -> HttpResponse:
    """A stored file (custody.py) decrypted as it streams. Its tags are all checked first, in a
    pass that keeps nothing, so that a file changed on disk is refused before any byte goes
    (and the stream checks each segment again as it decrypts it)."""
    try:
        custody.file_verify(stored)
    except custody.Tampered as problem:
        logger.error("stored file %s refused: %s", stored.public_id, problem)
        return HttpResponse(
            gettext("This file failed its integrity check and cannot be given. Tell the platform."),
            status=500,
            content_type="text/plain; charset=utf-8",
        )
    response = FileResponse(
        custody.file_plaintext(stored), as_attachment=True, content_type=content_type
    )
    # FileResponse names a file object; this is an iterator, so say it here (and the size).
    response["Content-Disposition"] = content_disposition_header(True, name)
    response["Content-Length"] = str(stored.size)
    return response


def _purged_response(request: HttpRequest, stored) -> HttpResponse:
    return render(request, "requests_app/purged.html", {"stored": stored}, status=410)


@officer_only
@never_cache
@require_safe
def refusal_notice(request: HttpRequest, public_id) -> HttpResponse:
    """The Annex III-style notice of a refusal, printable by the authority."""
    officer = request.user
    legal_request = selectors.legal_request_get_for_officer(officer, public_id)
    refusal = next(
        (e for e in legal_request.visible_events if e.kind == RequestEvent.Kind.REFUSED), None
    )
    if refusal is None:
        raise Http404
    ground, explanation = sealed_documents.refusal_ground_and_explanation(refusal)
    return render(
        request,
        "requests_app/refusal_notice.html",
        {
            "legal_request": legal_request,
            "refusal": refusal,
            "ground": ground,
            "explanation": explanation,
            "rule": instruments.rule_for(legal_request.instrument),
            # Its sealed PDF (none for a refusal from before sealed notices).
            "sealed_notice": next(
                (d for d in legal_request.sealed_documents.all() if d.event_id == refusal.pk),
                None,
            ),
        },
    )


def attachment_response(request: HttpRequest, attachment: Attachment | SealedFile) -> HttpResponse:
    """The opening recorded in the access log, then always a download (never rendered in the
    browser), with the type decided at upload. Every reader's attachment view ends here, and so
    does the download of the platform's sealed PDFs (receipt, notices, manifests)."""
    if isinstance(attachment, SealedFile):
        name, content_type = attachment.file_name, "application/pdf"
    else:
        name, content_type = attachment.original_name, attachment.content_type
    access_log_record(
        user=request.user,
        action=AccessLog.Action.OPEN_ATTACHMENT,
        legal_request=attachment.request,
        object_ref=f"{name} ({attachment.public_id})",
        ip=client_ip(request),
    )
    if isinstance(attachment, SealedFile):
        # The platform's own sealed PDFs are no one's personal data: stored in clear.
        response = FileResponse(
            attachment.file.open("rb"), as_attachment=True, filename=name, content_type=content_type
        )
    elif attachment.purged_at is not None:
        return _purged_response(request, attachment)
    else:
        response = _decrypting_response(attachment, name, content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "no-store"
    return response


@officer_only
@require_POST
@upload_limit
def message_post(request: HttpRequest, public_id) -> HttpResponse:
    officer = request.user
    legal_request = selectors.legal_request_get_for_officer(officer, public_id)
    form = MessageForm(request.POST, request.FILES)
    if not form.is_valid():
        _flash_errors(request, form)
        return redirect("requests:detail", legal_request.public_id)
    try:
        services.message_post_by_officer(
            officer=officer,
            legal_request=legal_request,
            body=form.cleaned_data["body"],
            amendment=form.cleaned_data["amendment"],
            files=form.cleaned_data["files"] or [],
        )
        messages.success(request, gettext("Message sent."))
    except (ValidationError, PermissionDenied) as problem:
        messages.error(request, _problem_text(problem))
    return redirect("requests:detail", legal_request.public_id)


@officer_only
@require_POST
def withdraw(request: HttpRequest, public_id) -> HttpResponse:
    officer = request.user
    legal_request = selectors.legal_request_get_for_officer(officer, public_id)
    form = WithdrawForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("Give a reason to withdraw the request."))
        return redirect("requests:detail", legal_request.public_id)
    try:
        services.legal_request_withdraw(
            officer=officer, legal_request=legal_request, reason=form.cleaned_data["reason"]
        )
        messages.success(
            request, gettext("%(reference)s withdrawn.") % {"reference": legal_request.reference}
        )
    except (ValidationError, PermissionDenied) as problem:
        messages.error(request, _problem_text(problem))
    return redirect("requests:detail", legal_request.public_id)


@submitter_only
@require_POST
def request_copy(request: HttpRequest, public_id) -> HttpResponse:
    """Copy this request for a follow-up: a new draft of one's own, to complete and submit."""
    officer = request.user
    legal_request = selectors.legal_request_get_for_officer(officer, public_id)
    try:
        draft = services.legal_request_copy(officer=officer, legal_request=legal_request)
    except (ValidationError, PermissionDenied) as problem:
        messages.error(request, _problem_text(problem))
        return redirect("requests:detail", legal_request.public_id)
    messages.success(
        request,
        gettext(
            "A new draft copied from %(reference)s, without its documents: check it, attach "
            "the new order and submit it."
        )
        % {"reference": legal_request.reference},
    )
    return redirect("requests:edit", draft.public_id)


@officer_only
@require_POST
def delete_draft(request: HttpRequest, public_id) -> HttpResponse:
    """Delete one's own draft, once the box saying so is ticked (the confirmation)."""
    officer = request.user
    legal_request = selectors.legal_request_get_for_officer(officer, public_id)
    if request.POST.get("confirm") != "on":
        messages.error(request, gettext("Tick the box to confirm that the draft is to go."))
        return redirect("requests:detail", legal_request.public_id)
    try:
        services.legal_request_delete_draft(officer=officer, legal_request=legal_request)
    except (ValidationError, PermissionDenied) as problem:
        messages.error(request, _problem_text(problem))
        return redirect("requests:detail", legal_request.public_id)
    messages.success(request, gettext("Draft deleted, with its documents."))
    return redirect("requests:list")


@officer_only
@require_POST
def preservation(request: HttpRequest, public_id) -> HttpResponse:
    officer = request.user
    legal_request = selectors.legal_request_get_for_officer(officer, public_id)
    try:
        if request.POST.get("action") == "extend":
            services.preservation_extend(officer=officer, legal_request=legal_request)
            messages.success(request, gettext("Preservation extended by 30 days."))
        elif request.POST.get("action") == "end":
            form = PreservationEndForm(request.POST)
            if not form.is_valid():
                messages.error(request, gettext("The reason is too long."))
                return redirect("requests:detail", legal_request.public_id)
            services.preservation_end(
                officer=officer, legal_request=legal_request, reason=form.cleaned_data["reason"]
            )
            messages.success(
                request,
                gettext("Preservation ended: the platform is told to delete the data."),
            )
        else:
            form = ProductionForm(request.POST)
            if not form.is_valid():
                messages.error(request, gettext("Give the reference of the production order."))
                return redirect("requests:detail", legal_request.public_id)
            services.preservation_confirm_production(
                officer=officer,
                legal_request=legal_request,
                production_reference=form.cleaned_data["production_reference"],
            )
            messages.success(
                request, gettext("Production follow-up recorded: the data stay preserved.")
            )
    except (ValidationError, PermissionDenied) as problem:
        messages.error(request, _problem_text(problem))
    return redirect("requests:detail", legal_request.public_id)


@officer_only
@require_POST
@upload_limit
def validation(request: HttpRequest, public_id) -> HttpResponse:
    """The ex post validation of an emergency order (e-Evidence Art. 4(5)): who decided, when,
    and the decision itself (checked by content)."""
    officer = request.user
    legal_request = selectors.legal_request_get_for_officer(officer, public_id)
    form = ValidationForm(request.POST, request.FILES)
    if not form.is_valid():
        _flash_errors(request, form)
        return redirect("requests:detail", legal_request.public_id)
    uploaded, checked = form.cleaned_data["decision"]
    try:
        services.validation_record(
            officer=officer,
            legal_request=legal_request,
            outcome=form.cleaned_data["outcome"],
            validating_authority=form.cleaned_data["validating_authority"],
            validated_on=form.cleaned_data["validated_on"],
            uploaded=uploaded,
            checked=checked,
        )
        messages.success(request, gettext("Ex post validation recorded."))
    except (ValidationError, PermissionDenied) as problem:
        messages.error(request, _problem_text(problem))
    return redirect("requests:detail", legal_request.public_id)


def _flash_errors(request: HttpRequest, form) -> None:
    """A form posted from the detail page: its errors shown there, after the redirect."""
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)
