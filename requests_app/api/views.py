"""/api/v1/: what an officer does in the pages, for their authority's case system. Thin, like
the pages: the pages' forms check input, requests_app's services act, its selectors read (another
authority's object is a 404) and its policies decide."""

from datetime import UTC

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.dateparse import parse_datetime
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django_ratelimit.core import is_ratelimited
from django_ratelimit.exceptions import Ratelimited
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.access import PUBLIC
from portal.http import client_ip
from portal.ratelimits import submission_limit, upload_limit
from requests_app import enforcing, instruments, policies, selectors, services
from requests_app.audit import officer_read_record, request_view_record
from requests_app.enforcing_forms import GroundForm
from requests_app.forms import LegalRequestForm, MessageForm, WithdrawForm
from requests_app.identifiers import parse_targets
from requests_app.models import OwedReceipt, RequestEvent, Status
from requests_app.uploads import check_upload
from requests_app.validation import submission_problems
from requests_app.views import attachment_response, produced_file_response, produced_release

from . import serializers as s
from .audit import api_call_record
from .idempotency import HEADER, idempotent
from .problems import Invalid, problem
from .services import emergency_confirmation_request

PROBLEMS = {
    code: OpenApiResponse(s.ProblemSerializer, description=text)
    for code, text in (
        (401, "No token, or an unknown, revoked, expired or unapproved one."),
        (403, "Scope missing, address not allowed, officer or authority blocked, or refused."),
        (404, "No such object for this authority."),
        (409, "The request's state does not allow this now."),
        (422, "Invalid fields (errors lists each)."),
        (429, "Rate limited."),
    )
}
IDEMPOTENCY = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="A unique key per operation: a retry with the same key returns the first answer.",
)

# A valid draft, as docs/api.md shows it: the documentation page and schemathesis's examples
# phase start from it (the form's rules are stricter than a JSON schema can say).
EPOC_EXAMPLE = OpenApiExample(
    "EPOC",
    request_only=True,
    value={
        "instrument": "epoc",
        "case_reference": "PARQUET-2026-0042",
        "legal_basis": "Code de procédure pénale, art. 60-1; Regulation (EU) 2023/1543",
        "offence": "Fraud (Code pénal art. 313-1)",
        "statement_of_reasons": "The account is used to coordinate the offence.",
        "targets": ["@jane.doe", "+33 6 12 34 56 78"],
        "data_categories": ["subscriber", "identification"],
        "period_start": "2026-09-01",
        "period_end": "2026-10-31",
        "language": "fr",
    },
)


def _errors(form) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in form.errors.items()}


class ApiView(APIView):
    """Every API view: token authentication (settings.REST_FRAMEWORK), the client's rate limit,
    and one access-log row per call under the client's officer."""

    # No session and no second-factor step: the token is the credential (portal.access).
    portal_access = PUBLIC

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if is_ratelimited(
            request._request,
            group="api",
            key=lambda group, req: f"api-client:{request.auth.pk}",
            rate=lambda group, req: settings.PORTAL_RATE_API,
            increment=True,
        ):
            raise Ratelimited()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(request, "_authenticator", None) is not None and request.auth is not None:
            api_call_record(request, response)
        response["Cache-Control"] = "no-store"
        return response

    def legal_request(self, request, public_id):
        return selectors.legal_request_get_for_officer(request.user, public_id)

    def legal_request_response(self, legal_request, status_code=status.HTTP_200_OK):
        # Read again, with what the serializer shows (targets, the confirmation).
        fresh = selectors.legal_request_get_for_officer(self.request.user, legal_request.public_id)
        return Response(s.LegalRequestSerializer(fresh).data, status=status_code)


class RequestPagination(CursorPagination):
    ordering = ("-created_at", "-pk")
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"


class RequestListView(ApiView):
    @extend_schema(
        operation_id="requests_list",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=[*Status.values]),
            OpenApiParameter("instrument", OpenApiTypes.STR, enum=list(instruments.RULES)),
            OpenApiParameter("updated_since", OpenApiTypes.DATETIME),
            OpenApiParameter("cursor", OpenApiTypes.STR),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: s.LegalRequestPageSerializer, **PROBLEMS},
    )
    def get(self, request):
        """The authority's requests the officer sees, newest first, by cursor."""
        state = request.query_params.get("status") or None
        if state is not None and state not in Status.values:
            raise Invalid({"status": [gettext("Unknown status.")]})
        requests = selectors.legal_requests_for_officer(request.user, status=state, sort="newest")
        requests = requests.select_related(
            "api_confirmation", "receipt", "owed_receipt"
        ).prefetch_related("targets")
        if instrument := request.query_params.get("instrument"):
            requests = requests.filter(instrument=instrument)
        if since := request.query_params.get("updated_since"):
            try:
                when = parse_datetime(since)
                if when is not None:
                    if timezone.is_naive(when):
                        when = timezone.make_aware(when, UTC)
                    # In UTC: PostgreSQL refuses offsets beyond 15:59 that ISO 8601 allows.
                    when = when.astimezone(UTC)
            except (ValueError, OverflowError):
                when = None  # out of range, or moved out of the calendar by its offset
            if when is None:
                raise Invalid({"updated_since": [gettext("Give an ISO 8601 date and time.")]})
            requests = requests.filter(updated_at__gte=when)
        paginator = RequestPagination()
        page = paginator.paginate_queryset(requests, request, view=self)
        return paginator.get_paginated_response(s.LegalRequestSerializer(page, many=True).data)

    @extend_schema(
        operation_id="requests_create",
        request=s.LegalRequestInputSerializer,
        parameters=[IDEMPOTENCY],
        examples=[EPOC_EXAMPLE],
        responses={201: s.LegalRequestSerializer, **PROBLEMS},
    )
    @method_decorator(submission_limit)
    def post(self, request):
        """A new draft, checked by the officer's form of the instrument."""
        return idempotent(request, lambda: self._create(request), required=True)

    def _create(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        instrument = data.get("instrument")
        if instrument not in instruments.RULES:
            raise Invalid({"instrument": [gettext("Unknown instrument.")]})
        form = _request_form(instrument, data)
        if not form.is_valid():
            raise Invalid(_errors(form))
        draft = services.legal_request_save_draft(
            officer=request.user,
            instrument=instrument,
            data=form.request_data(),
            targets=form.cleaned_data.get("targets", []),
        )
        return self.legal_request_response(draft, status.HTTP_201_CREATED)


def _request_form(instrument: str, data: dict) -> LegalRequestForm:
    """The pages' form, bound to the JSON: the same fields, formats and messages. A field the
    form does not show for this instrument is refused rather than silently dropped."""
    form = LegalRequestForm(instrument=instrument)
    allowed = set(form.fields) - {"documents"}
    unknown = sorted(set(data) - allowed - {"instrument"})
    if unknown:
        raise Invalid({name: [gettext("Not a field of this instrument.")] for name in unknown})
    bound = MultiValueDict()
    for name, value in data.items():
        if name == "targets" and isinstance(value, list):
            value = "\n".join(str(item) for item in value)
        bound.setlist(name, value if isinstance(value, list) else [value])
    return LegalRequestForm(bound, MultiValueDict(), instrument=instrument)


class RequestDetailView(ApiView):
    @extend_schema(
        operation_id="requests_read", responses={200: s.LegalRequestSerializer, **PROBLEMS}
    )
    def get(self, request, public_id):
        """One request: status, internal deadline and legal time limit, holds, the clock."""
        legal_request = self.legal_request(request, public_id)
        officer = request.user
        officer_read_record(officer=officer, legal_request=legal_request, ip=client_ip(request))
        return Response(s.LegalRequestSerializer(legal_request).data)


class RequestSubmitView(ApiView):
    @extend_schema(
        operation_id="requests_submit",
        request=None,
        parameters=[IDEMPOTENCY],
        responses={
            200: s.LegalRequestSerializer,
            202: OpenApiResponse(
                s.LegalRequestSerializer,
                description="An emergency: it waits for the officer's confirmation in the pages.",
            ),
            **PROBLEMS,
        },
    )
    @method_decorator(submission_limit)
    def post(self, request, public_id):
        """Submit a draft. An emergency is not submitted: it waits, as a draft, for the officer
        to confirm it in the pages with a fresh second factor; the clock starts then."""
        legal_request = self.legal_request(request, public_id)
        return idempotent(request, lambda: self._submit(request, legal_request))

    def _submit(self, request, legal_request):
        officer = request.user
        if instruments.is_emergency(legal_request.instrument, legal_request.is_emergency):
            policies.check(officer, "submit", legal_request)
            problems = submission_problems(legal_request, today=timezone.now().date())
            if problems:
                raise Invalid(problems, gettext("The request cannot be submitted yet."))
            emergency_confirmation_request(client=request.auth, legal_request=legal_request)
            return self.legal_request_response(legal_request, status.HTTP_202_ACCEPTED)
        submitted = services.legal_request_submit(
            officer=officer, legal_request=legal_request, ip=client_ip(request), device_id=""
        )
        return self.legal_request_response(submitted)


class RequestWithdrawView(ApiView):
    @extend_schema(
        operation_id="requests_withdraw",
        request=s.WithdrawInputSerializer,
        responses={200: s.LegalRequestSerializer, **PROBLEMS},
    )
    def post(self, request, public_id):
        legal_request = self.legal_request(request, public_id)
        form = WithdrawForm(request.data)
        if not form.is_valid():
            raise Invalid(_errors(form))
        withdrawn = services.legal_request_withdraw(
            officer=request.user, legal_request=legal_request, reason=form.cleaned_data["reason"]
        )
        return self.legal_request_response(withdrawn)


class TargetListView(ApiView):
    @extend_schema(operation_id="targets_list", responses={200: s.TargetSerializer(many=True)})
    def get(self, request, public_id):
        legal_request = self.legal_request(request, public_id)
        return Response(s.TargetSerializer(legal_request.targets.all(), many=True).data)

    @extend_schema(
        operation_id="targets_add",
        request=s.TargetInputSerializer,
        responses={201: s.TargetSerializer, **PROBLEMS},
    )
    def post(self, request, public_id):
        """One identifier, read as the form reads each line of its box (identifiers.py)."""
        legal_request = self.legal_request(request, public_id)
        identifier = request.data.get("identifier") if isinstance(request.data, dict) else None
        if not isinstance(identifier, str) or "\n" in identifier or not identifier.strip():
            raise Invalid({"identifier": [gettext("Give one identifier.")]})
        rule = instruments.rule_for(legal_request.instrument)
        existing = [(t.kind, t.value) for t in legal_request.targets.all()]
        try:
            (target,) = parse_targets(identifier, rule.target_kinds)
            targets = parse_targets(
                "\n".join([*(value for _, value in existing), target[1]]), rule.target_kinds
            )
        except ValidationError as error:
            raise Invalid({"identifier": error.messages}) from None
        services.legal_request_save_draft(
            officer=request.user,
            instrument=legal_request.instrument,
            data={},
            targets=targets,
            legal_request=legal_request,
        )
        return Response(
            s.TargetSerializer({"kind": target[0], "value": target[1]}).data,
            status=status.HTTP_201_CREATED,
        )


class DocumentListView(ApiView):
    @extend_schema(operation_id="documents_list", responses={200: s.DocumentSerializer(many=True)})
    def get(self, request, public_id):
        legal_request = self.legal_request(request, public_id)
        return Response(s.DocumentSerializer(legal_request.attachments.all(), many=True).data)

    @extend_schema(
        operation_id="documents_upload",
        request={"multipart/form-data": s.DocumentInputSerializer},
        responses={201: s.DocumentSerializer, **PROBLEMS},
    )
    @method_decorator(upload_limit)
    def post(self, request, public_id):
        """A signed order document of a draft, checked as in the form (uploads.check_upload)."""
        legal_request = self.legal_request(request, public_id)
        uploaded = request.FILES.get("file")
        if uploaded is None:
            raise Invalid({"file": [gettext("Send the document as the multipart field file.")]})
        policies.check(request.user, "edit_draft", legal_request)
        checked = check_upload(uploaded)  # ValidationError: 422 with the form's message
        attachment = services.attachment_add(
            legal_request=legal_request, user=request.user, uploaded=uploaded, checked=checked
        )
        return Response(s.DocumentSerializer(attachment).data, status=status.HTTP_201_CREATED)


class MessageListView(ApiView):
    """The thread; a message may carry documents (multipart field files)."""

    @extend_schema(operation_id="messages_list", responses={200: s.MessageSerializer(many=True)})
    def get(self, request, public_id):
        """The thread with the platform, both ways (a clarification asked, answers...)."""
        legal_request = self.legal_request(request, public_id)
        thread = legal_request.messages.prefetch_related("attachments")
        return Response(s.MessageSerializer(thread, many=True).data)

    @extend_schema(
        operation_id="messages_post",
        request={
            "application/json": s.MessageInputSerializer,
            "multipart/form-data": s.MessageInputSerializer,
        },
        responses={201: s.MessageSerializer, **PROBLEMS},
    )
    def post(self, request, public_id):
        """A message; while a clarification is asked, it is the answer (the clock restarts)."""
        legal_request = self.legal_request(request, public_id)
        # JSON, or multipart with documents in the field files (checked as in the page).
        form = MessageForm(request.data, request.FILES)
        if not form.is_valid():
            raise Invalid(_errors(form))
        message = services.message_post_by_officer(
            officer=request.user,
            legal_request=legal_request,
            body=form.cleaned_data["body"],
            amendment=form.cleaned_data["amendment"],
            files=form.cleaned_data["files"] or [],
        )
        return Response(s.MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class DeliveryListView(ApiView):
    @extend_schema(operation_id="deliveries_list", responses={200: s.DeliverySerializer(many=True)})
    def get(self, request, public_id):
        """Produced data, each with its download link until it expires."""
        legal_request = self.legal_request(request, public_id)
        produced = legal_request.produced.select_related("request")
        return Response(s.DeliverySerializer(produced, many=True).data)


class DeliveryDownloadView(ApiView):
    @extend_schema(
        operation_id="deliveries_download",
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            410: OpenApiResponse(s.ProblemSerializer, description="Expired or withdrawn."),
            **PROBLEMS,
        },
    )
    def get(self, request, public_id, produced_id):
        """The file, as the page gives it: until the link expires, every attempt audited."""
        produced = selectors.produced_get_for_officer(request.user, public_id, produced_id)
        refused, _ = produced_release(request, produced)
        if refused == "withdrawn":
            return problem(410, gettext("The order's validation failed: its data may not be used."))
        if refused == "expired":
            return problem(410, gettext("This download link has expired."))
        if refused == "purged":
            return problem(
                410,
                gettext("This file was purged on %(date)s.")
                % {"date": f"{produced.purged_at:%Y-%m-%d}"},
            )
        return produced_file_response(produced)


class ReceiptDownloadView(ApiView):
    @extend_schema(
        operation_id="receipt_download",
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            409: OpenApiResponse(s.ProblemSerializer, description="Still being prepared."),
            **PROBLEMS,
        },
    )
    def get(self, request, public_id):
        """The request's sealed receipt, as the page gives it (audited); a 409 problem while
        it is still being sealed, a moment after submission."""
        receipt = selectors.receipt_get_for_officer(request.user, public_id)
        if isinstance(receipt, OwedReceipt):
            return problem(
                409, gettext("The receipt is being prepared: try again in a few seconds.")
            )
        return attachment_response(request, receipt)


class EventFeedView(ApiView):
    @extend_schema(
        operation_id="events_feed",
        parameters=[
            OpenApiParameter("after", OpenApiTypes.INT, description="The last cursor you have."),
            OpenApiParameter("limit", OpenApiTypes.INT),
        ],
        responses={200: s.EventPageSerializer, **PROBLEMS},
    )
    def get(self, request):
        """What happened to the authority's requests (what its pages show), oldest first; for
        an enforcing authority, also what it is told of the orders notified to it."""
        try:
            after = int(request.query_params.get("after", 0))
            limit = min(max(int(request.query_params.get("limit", 100)), 1), 500)
        except ValueError:
            raise Invalid({"after": [gettext("Give the cursor of an event.")]}) from None
        visible = selectors.legal_requests_for_officer(request.user, sort="newest")
        events = RequestEvent.objects.filter(
            request__in=visible.values("pk"), visible_to_authority=True
        )
        if policies.has(request.user, policies.Capability.ENFORCE):
            events = events | selectors.events_for_enforcer(request.user)
        events = list(events.filter(pk__gt=after).select_related("request").order_by("pk")[:limit])
        return Response(
            {
                "events": s.EventSerializer(events, many=True).data,
                "next_cursor": events[-1].pk if events else after,
            }
        )


# --- The enforcing authority (e-Evidence Art. 8, 10, 12) -------------------------------------
# What requests_app.enforcing_views gives its officers in the pages: the orders notified to
# their authority, read-only, and its two actions. The selectors make anyone else's order a
# 404; requests_app.enforcing decides and acts (the window, the grounds, the e-mails).


class EnforcingOrderPagination(RequestPagination):
    ordering = ("-received_at", "-pk")


class EnforcingView(ApiView):
    def order(self, request, public_id):
        return selectors.legal_request_get_for_enforcer(request.user, public_id)

    def order_response(self, legal_request):
        # Read again: the decision, the grounds and the hold as they are now.
        fresh = self.order(self.request, legal_request.public_id)
        return Response(
            s.EnforcingOrderDetailSerializer(fresh, context={"user": self.request.user}).data
        )


class EnforcingOrderListView(EnforcingView):
    @extend_schema(
        operation_id="enforcing_orders_list",
        parameters=[
            OpenApiParameter("cursor", OpenApiTypes.STR),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: s.EnforcingOrderPageSerializer, **PROBLEMS},
    )
    def get(self, request):
        """The orders notified to the caller's authority as the enforcing authority, newest
        received first (an officer of any other authority gets an empty list)."""
        orders = selectors.legal_requests_for_enforcer(request.user)
        paginator = EnforcingOrderPagination()
        page = paginator.paginate_queryset(orders, request, view=self)
        return paginator.get_paginated_response(s.EnforcingOrderSerializer(page, many=True).data)


class EnforcingOrderDetailView(EnforcingView):
    @extend_schema(
        operation_id="enforcing_orders_read",
        responses={200: s.EnforcingOrderDetailSerializer, **PROBLEMS},
    )
    def get(self, request, public_id):
        """One order, read-only, with its window, the grounds raised and whether the caller
        may decide now (and why not)."""
        legal_request = self.order(request, public_id)
        request_view_record(user=request.user, legal_request=legal_request, ip=client_ip(request))
        return Response(
            s.EnforcingOrderDetailSerializer(legal_request, context={"user": request.user}).data
        )


class EnforcingDocumentView(EnforcingView):
    @extend_schema(
        operation_id="enforcing_documents_download",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **PROBLEMS},
    )
    def get(self, request, public_id, attachment_id):
        """A document of the order (the signed order...), as the page gives it, audited."""
        document = selectors.attachment_get_for_enforcer(request.user, public_id, attachment_id)
        return attachment_response(request, document)


class EnforcingConfirmView(EnforcingView):
    @extend_schema(
        operation_id="enforcing_orders_confirm",
        request=None,
        parameters=[IDEMPOTENCY],
        responses={200: s.EnforcingOrderDetailSerializer, **PROBLEMS},
    )
    def post(self, request, public_id):
        """Art. 10(2): the authority raises no (further) ground for refusal; the hold ends now
        and the issuing officer and the platform are told. 409 once the window is closed."""
        legal_request = self.order(request, public_id)

        def confirm():
            enforcing.enforcing_confirm_no_ground(officer=request.user, legal_request=legal_request)
            return self.order_response(legal_request)

        return idempotent(request, confirm)


class EnforcingGroundsView(EnforcingView):
    @extend_schema(
        operation_id="enforcing_orders_raise_ground",
        request=s.GroundInputSerializer,
        parameters=[IDEMPOTENCY],
        responses={200: s.EnforcingOrderDetailSerializer, **PROBLEMS},
    )
    def post(self, request, public_id):
        """Art. 12(1): one ground for refusal, for some data categories or (none given) the
        whole order, with its reasons; checked as the page's form checks it. A ground covering
        every category refuses the order (status refused_by_enforcing)."""
        legal_request = self.order(request, public_id)

        def raise_ground():
            # Checked inside: a retry is answered as the first call was, not by the form
            # against the order as the first call left it.
            form = _ground_form(request.data, legal_request)
            if not form.is_valid():
                raise Invalid(_errors(form))
            enforcing.enforcing_raise_grounds(
                officer=request.user,
                legal_request=legal_request,
                grounds=form.grounds(),
            )
            return self.order_response(legal_request)

        return idempotent(request, raise_ground)


def _ground_form(data, legal_request) -> GroundForm:
    """The page's form (without its code: the token is the credential), bound to the JSON; a
    field it does not have, or a value of the wrong JSON type, is refused by name."""
    data = data if isinstance(data, dict) else {}
    errors = {
        name: [gettext("Not a field of this form.")]
        for name in sorted(set(data) - {*GroundForm.base_fields})
    }
    for name in ("ground", "reasons"):
        if name in data and not isinstance(data[name], str):
            errors[name] = [gettext("Give a text.")]
    categories = data.get("categories", [])
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        errors["categories"] = [gettext("Give the data categories as a list of texts.")]
    if errors:
        raise Invalid(errors)
    bound = MultiValueDict()
    for name in ("ground", "reasons"):
        if name in data:
            bound[name] = data[name]
    bound.setlist("categories", categories)
    return GroundForm(bound, legal_request=legal_request)
