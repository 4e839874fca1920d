"""What the API shows (and what the schema documents). Input is checked by the pages' own forms
(requests_app.forms): these input serializers only describe it for the OpenAPI schema."""

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from authorities.constants import Instrument
from requests_app import policies
from requests_app.instruments import DataCategory
from requests_app.models import (
    Attachment,
    EnforcingGround,
    Message,
    ProducedData,
    RequestEvent,
    Status,
)

AWAITING_CONFIRMATION = "awaiting_officer_confirmation"


class TargetSerializer(serializers.Serializer):
    kind = serializers.CharField()
    value = serializers.CharField()


RECEIPT_BEING_PREPARED = "being_prepared"
RECEIPT_ISSUED = "issued"


class ReceiptSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=[RECEIPT_BEING_PREPARED, RECEIPT_ISSUED])
    sha256 = serializers.CharField(allow_null=True)
    sealed_at = serializers.DateTimeField(allow_null=True)
    download = serializers.CharField(allow_null=True)


def receipt_state(legal_request) -> dict | None:
    """The sealed receipt as the request's page shows it (requests_app/receipts.py): being
    prepared while it is owed, then its SHA-256 and download; None for a draft."""
    receipt = getattr(legal_request, "receipt", None)  # None: no row (a reverse one-to-one)
    if receipt is not None:
        return {
            "state": RECEIPT_ISSUED,
            "sha256": receipt.sha256,
            "sealed_at": receipt.sealed_at,
            "download": reverse("api:receipt", args=[legal_request.public_id]),
        }
    if getattr(legal_request, "owed_receipt", None) is not None:
        return {
            "state": RECEIPT_BEING_PREPARED,
            "sha256": None,
            "sealed_at": None,
            "download": None,
        }
    return None


class LegalRequestSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    reference = serializers.CharField(allow_null=True)
    instrument = serializers.ChoiceField(choices=Instrument.choices)
    status = serializers.SerializerMethodField()
    case_reference = serializers.CharField()
    is_emergency = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField(allow_null=True)
    internal_deadline = serializers.DateTimeField(source="due_at", allow_null=True)
    legal_time_limit = serializers.DateTimeField(source="legal_due_at", allow_null=True)
    clock_paused = serializers.SerializerMethodField()
    clock_paused_since = serializers.DateTimeField(source="clock_stopped_at", allow_null=True)
    on_hold = serializers.SerializerMethodField()
    hold_until = serializers.DateTimeField(allow_null=True)
    targets = TargetSerializer(many=True)
    confirmation_page = serializers.SerializerMethodField(
        help_text="Where the officer confirms an emergency waiting for them (else null)."
    )
    receipt = serializers.SerializerMethodField(
        help_text="The sealed receipt: being prepared for a moment after submission, then "
        "issued, with its SHA-256 and download; null for a draft."
    )

    @extend_schema_field(ReceiptSerializer(allow_null=True))
    def get_receipt(self, legal_request) -> dict | None:
        state = receipt_state(legal_request)
        return None if state is None else ReceiptSerializer(state).data

    def get_confirmation_page(self, legal_request) -> str | None:
        if legal_request.status == Status.DRAFT and _awaiting_confirmation(legal_request):
            return reverse("api_clients:confirm", args=[legal_request.public_id])
        return None

    @extend_schema_field(serializers.ChoiceField(choices=[*Status.values, AWAITING_CONFIRMATION]))
    def get_status(self, legal_request) -> str:
        """A draft the client asked to submit as an emergency waits for its officer."""
        if legal_request.status == Status.DRAFT and _awaiting_confirmation(legal_request):
            return AWAITING_CONFIRMATION
        return legal_request.status

    def get_clock_paused(self, legal_request) -> bool:
        return legal_request.clock_stopped_at is not None

    def get_on_hold(self, legal_request) -> bool:
        return legal_request.on_hold(timezone.now())


def _awaiting_confirmation(legal_request) -> bool:
    confirmation = getattr(legal_request, "api_confirmation", None)
    return confirmation is not None and confirmation.confirmed_at is None


class LegalRequestInputSerializer(serializers.Serializer):
    """The fields of the officer's form for the instrument (those it does not show are
    refused); targets as a list of identifiers, one per item."""

    instrument = serializers.ChoiceField(choices=Instrument.choices)
    case_reference = serializers.CharField(required=False)
    legal_basis = serializers.CharField(required=False)
    offence = serializers.CharField(required=False)
    threshold_met = serializers.BooleanField(required=False)
    targets = serializers.ListField(child=serializers.CharField(), required=False)
    data_categories = serializers.ListField(child=serializers.CharField(), required=False)
    period_start = serializers.DateField(required=False)
    period_end = serializers.DateField(required=False)
    statement_of_reasons = serializers.CharField(required=False)
    redress_information = serializers.CharField(required=False)
    territorial_scope = serializers.CharField(required=False)
    confidential = serializers.BooleanField(required=False)
    confidential_until = serializers.DateField(required=False)
    is_emergency = serializers.BooleanField(required=False)
    emergency_justification = serializers.CharField(required=False)
    validating_authority = serializers.CharField(required=False)
    enforcing_notified = serializers.BooleanField(required=False)
    enforcing_authority = serializers.CharField(required=False)
    art8_2_statement = serializers.CharField(required=False)
    language = serializers.CharField(required=False)


class TargetInputSerializer(serializers.Serializer):
    identifier = serializers.CharField()


class WithdrawInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class MessageInputSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=20000)
    amendment = serializers.BooleanField(required=False)
    files = serializers.ListField(child=serializers.FileField(), required=False)


class DocumentInputSerializer(serializers.Serializer):
    file = serializers.FileField()


class DocumentSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.CharField(source="original_name")
    purpose = serializers.ChoiceField(choices=Attachment.Purpose.choices)
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    pages = serializers.IntegerField(allow_null=True)
    uploaded_at = serializers.DateTimeField()


class MessageSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Message.Kind.choices)
    documents = DocumentSerializer(source="attachments", many=True, read_only=True)
    body = serializers.CharField()
    at = serializers.DateTimeField()
    from_platform = serializers.SerializerMethodField()

    def get_from_platform(self, message) -> bool:
        return message.kind in (
            Message.Kind.FROM_PLATFORM,
            Message.Kind.CLARIFICATION_REQUEST,
            Message.Kind.ANSWER,
        )


class DeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.CharField(source="original_name")
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    uploaded_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    expired = serializers.BooleanField(source="is_expired")
    download = serializers.SerializerMethodField()

    def get_download(self, produced: ProducedData) -> str:
        return reverse("api:delivery", args=[produced.request.public_id, produced.public_id])


class EventSerializer(serializers.Serializer):
    cursor = serializers.IntegerField(source="pk")
    request = serializers.UUIDField(source="request.public_id")
    kind = serializers.ChoiceField(choices=RequestEvent.Kind.choices)
    at = serializers.DateTimeField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()


class EventPageSerializer(serializers.Serializer):
    events = EventSerializer(many=True)
    next_cursor = serializers.IntegerField(allow_null=True)


class LegalRequestPageSerializer(serializers.Serializer):
    """A page of requests (CursorPagination): the links to the pages either side, or null."""

    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = LegalRequestSerializer(many=True)


# --- The enforcing authority (e-Evidence Art. 8, 10, 12): what its pages show ---------------


class AuthoritySerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField(source="name_en")
    country = serializers.CharField()


class EnforcingOrderSerializer(serializers.Serializer):
    """A line of the enforcing authority's list of orders (its page's columns)."""

    id = serializers.UUIDField(source="public_id")
    reference = serializers.CharField()
    instrument = serializers.ChoiceField(choices=Instrument.choices)
    status = serializers.ChoiceField(choices=Status.choices)
    is_emergency = serializers.BooleanField()
    issuing_authority = AuthoritySerializer(source="authority")
    received_at = serializers.DateTimeField(allow_null=True)
    on_hold = serializers.SerializerMethodField(
        help_text="The window for grounds for refusal is open: no data go before it ends."
    )
    hold_until = serializers.DateTimeField(
        allow_null=True, help_text="When the window for grounds for refusal ends (Art. 10)."
    )

    def get_on_hold(self, legal_request) -> bool:
        return legal_request.on_hold(timezone.now())


class EnforcingOrderPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = EnforcingOrderSerializer(many=True)


class IssuingOfficerSerializer(serializers.Serializer):
    name = serializers.CharField(source="full_name")
    email = serializers.EmailField()


class EnforcingDocumentSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.CharField(source="original_name")
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    download = serializers.SerializerMethodField()

    def get_download(self, attachment: Attachment) -> str:
        return reverse(
            "api:enforcing_document", args=[attachment.request.public_id, attachment.public_id]
        )


class GroundRaisedSerializer(serializers.Serializer):
    ground = serializers.ChoiceField(choices=EnforcingGround.choices)
    categories = serializers.ListField(
        child=serializers.CharField(), help_text="Empty: the whole order."
    )
    reasons = serializers.CharField()
    raised_at = serializers.DateTimeField()


class DecisionSerializer(serializers.Serializer):
    allowed = serializers.BooleanField(help_text="May the caller confirm or raise grounds now?")
    reason = serializers.CharField(help_text="Why not, when not allowed (else empty).")


class EnforcingOrderDetailSerializer(EnforcingOrderSerializer):
    """The order as the enforcing authority's page shows it, read-only, with its decision
    panel: the window, the refused categories, the grounds raised, and whether it may act."""

    issuing_officer = IssuingOfficerSerializer(source="officer")
    case_reference = serializers.CharField()
    legal_basis = serializers.CharField()
    offence = serializers.CharField()
    threshold_met = serializers.BooleanField()
    targets = TargetSerializer(many=True)
    data_categories = serializers.ListField(
        child=serializers.ChoiceField(choices=DataCategory.choices)
    )
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(allow_null=True)
    statement_of_reasons = serializers.CharField()
    emergency_justification = serializers.CharField()
    validating_authority = serializers.CharField()
    language = serializers.CharField()
    hold_released_at = serializers.DateTimeField(
        allow_null=True, help_text="When the hold ended before the window did (else null)."
    )
    refused_categories = serializers.ListField(
        child=serializers.ChoiceField(choices=DataCategory.choices),
        help_text="Refused by the enforcing authority: never transferred.",
    )
    grounds_raised = GroundRaisedSerializer(source="enforcing_refusals", many=True)
    documents = EnforcingDocumentSerializer(source="attachments", many=True)
    decision = serializers.SerializerMethodField()

    @extend_schema_field(DecisionSerializer)
    def get_decision(self, legal_request) -> dict:
        decision = policies.decide(self.context["user"], "enforcing_decide", legal_request)
        return {"allowed": decision.allowed, "reason": decision.reason}


class GroundInputSerializer(serializers.Serializer):
    """One ground of Art. 12(1): the fields of the pages' form (requests_app.enforcing_forms)."""

    ground = serializers.ChoiceField(choices=EnforcingGround.choices)
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=DataCategory.choices),
        required=False,
        help_text="The data categories refused; none: the whole order.",
    )
    reasons = serializers.CharField(max_length=10000)


class ProblemSerializer(serializers.Serializer):
    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.ListField(child=serializers.DictField(), required=False)
