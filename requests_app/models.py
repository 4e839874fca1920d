import uuid
from datetime import UTC

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from authorities.constants import Instrument
from portal.audit_chain import HashChainedModel
from portal.choices import ChoiceLabels

from .outbox import outbox_sweep_indexes


class Status(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Received")
    IN_REVIEW = "in_review", _("In review")
    CLARIFICATION = "clarification", _("Clarification requested")
    PRESERVED = "preserved", _("Data preserved")
    RESPONDED = "responded", _("Responded")
    PARTIALLY_RESPONDED = "partially_responded", _("Partially responded")
    REFUSED = "refused", _("Refused")
    # e-Evidence Art. 12: the enforcing authority refused the whole order; nothing may go.
    REFUSED_BY_ENFORCING = "refused_by_enforcing", _("Refused by the enforcing authority")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    CLOSED = "closed", _("Closed")


class ValidationOutcome(models.TextChoices):
    """The ex post validation of an emergency order (e-Evidence Art. 4(5))."""

    GRANTED = "granted", _("Validated")
    REFUSED = "refused", _("Validation refused")


# The legal clock runs in these states; deadlines and alerts apply to them.
OPEN_STATUSES = frozenset({Status.SUBMITTED, Status.IN_REVIEW, Status.CLARIFICATION})


class LegalRequest(ChoiceLabels, models.Model):
    """A legal request from an authority. Immutable once submitted: later changes are events,
    messages or amendments, never edits of these fields."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Unique by a constraint (Meta), not unique=True: that would add a LIKE index nothing uses.
    reference = models.CharField(max_length=20, null=True, blank=True)
    instrument = models.CharField(max_length=30, choices=Instrument.choices)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.DRAFT)
    # No single-column index on these foreign keys: the composite indexes in Meta begin with
    # them. Every index is written again on each update that moves next_alert_at or due_at (a
    # sweep moves 1,000 at once), so the table keeps only the indexes a query uses.
    authority = models.ForeignKey(
        "authorities.Authority",
        on_delete=models.PROTECT,
        related_name="legal_requests",
        db_index=False,
    )
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="legal_requests",
        db_index=False,
    )
    is_emergency = models.BooleanField(default=False)

    case_reference = models.CharField(max_length=100, blank=True)
    legal_basis = models.CharField(max_length=500, blank=True)
    offence = models.CharField(max_length=500, blank=True)
    threshold_met = models.BooleanField(
        default=False,
        help_text="The offence is punishable by a maximum of at least 3 years, or listed.",
    )
    data_categories = models.JSONField(default=list, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    statement_of_reasons = models.TextField(blank=True)
    redress_information = models.TextField(blank=True)
    territorial_scope = models.CharField(max_length=300, blank=True)
    confidential = models.BooleanField(default=False, help_text="Do not notify the user concerned.")
    confidential_until = models.DateField(null=True, blank=True)
    emergency_justification = models.TextField(blank=True)
    validating_authority = models.CharField(max_length=300, blank=True)
    language = models.CharField(max_length=8, default="en")
    # e-Evidence Art. 8: a production order for traffic or content data is notified to the
    # enforcing authority, unless the issuing authority states the Art. 8(2) exception.
    enforcing_notified = models.BooleanField(default=False)
    art8_2_statement = models.TextField(blank=True)
    enforcing_authority = models.ForeignKey(
        "authorities.Authority",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="enforced_requests",
    )
    # e-Evidence Art. 10(2), 12(1): no data before the enforcing authority's window ends (set
    # at receipt), unless it confirms earlier that it raises no ground; hold_released_at is
    # when the hold ended (that confirmation, or the window's lapse, recorded once).
    hold_until = models.DateTimeField(null=True, blank=True)
    hold_released_at = models.DateTimeField(null=True, blank=True)
    # Data categories the enforcing authority refused (Art. 12): never transferred.
    refused_categories = models.JSONField(default=list, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    received_at = models.DateTimeField(null=True, blank=True)
    # Two deadlines (requests_app/deadlines.py, stored by lifecycle.recompute_due_at): due_at, the
    # internal target (platform policy, never later than the legal limit), which the queue and
    # the alerts follow; legal_due_at, the legal time limit counted as Regulation 1182/71 counts
    # periods in settings.PORTAL_ENFORCING_STATE (an answer is in time strictly before it). NULL
    # where the law sets no fixed limit ("without undue delay"), before receipt and while the
    # clock is stopped.
    due_at = models.DateTimeField(null=True, blank=True)
    legal_due_at = models.DateTimeField(null=True, blank=True)
    clock_stopped_at = models.DateTimeField(null=True, blank=True)
    # A preservation order (requests_app.preservation reads these; nothing else decides):
    # when it lapses (NULL once a production request keeps it without end), when it was
    # extended (Annex VI, once), the production request that keeps it (Annex V), when the
    # issuing authority ended it early or withdrew the order (Art. 11(3)).
    preservation_until = models.DateTimeField(null=True, blank=True)
    preservation_extended_at = models.DateTimeField(null=True, blank=True)
    # Database defaults keep raw INSERTs (bench/seed.sql) working.
    production_reference = models.CharField(max_length=100, blank=True, default="", db_default="")
    preservation_ended_at = models.DateTimeField(null=True, blank=True)
    # An emergency order issued without prior validation (e-Evidence Art. 4(5);
    # requests_app.ex_post_validation): the end of its 48 hours, set at submission, and the
    # validation the officer recorded (the decision is an attachment, purpose "validation").
    validation_due_at = models.DateTimeField(null=True, blank=True)
    validation_outcome = models.CharField(
        max_length=10, choices=ValidationOutcome.choices, blank=True, default="", db_default=""
    )
    validation_recorded_at = models.DateTimeField(null=True, blank=True)
    validation_authority = models.CharField(max_length=300, blank=True, default="", db_default="")
    validation_date = models.DateField(null=True, blank=True)
    # When the legal team recorded deleting the data (a lapsed or ended preservation, a refused
    # or lapsed validation).
    data_deleted_at = models.DateTimeField(null=True, blank=True)
    # A legal hold set by a lead (docs/security.md, "Custody"): while set, none of the request's
    # files is purged, whatever their retention.
    legal_hold_at = models.DateTimeField(null=True, blank=True)
    legal_hold_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    legal_hold_reason = models.TextField(blank=True, default="", db_default="")
    # Evidence for reviewers: how the submission was authenticated.
    submitted_device = models.CharField(max_length=100, blank=True)
    submitted_ip = models.GenericIPAddressField(null=True, blank=True)
    # The risk signals as computed at submission (requests_app/risk.py), kept so that later
    # requests or an ageing account cannot hide them: {"computed_at": ISO time, "signals":
    # [{"code": ..., "params": {...}}]}, rendered in the reader's language. NULL: submitted
    # before signals were stored. The count marks queue rows without reading the list; its
    # database default keeps raw INSERTs (bench/seed.sql) working.
    risk_snapshot = models.JSONField(null=True, blank=True)
    risk_signal_count = models.PositiveSmallIntegerField(default=0, db_default=0)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_requests",
        db_index=False,
    )
    # The deadline alerts (requests_app/alerts.py): the version of due_at (bumped whenever it
    # changes, so alerts of an old deadline are never sent for the new one), when it changed,
    # and when the sweep must next look at this request.
    deadline_version = models.PositiveIntegerField(default=0)
    deadline_changed_at = models.DateTimeField(null=True, blank=True)
    next_alert_at = models.DateTimeField(null=True, blank=True)
    # A request the sweep could not handle (an instrument the rule table no longer knows, a
    # corrupt field): how many sweeps in a row failed on it and the last error, shown to leads
    # and counted by /healthz. The retry waits in next_alert_at (backoff); cleared on success.
    # Database defaults keep raw INSERTs (bench/seed.sql) working.
    alert_failures = models.PositiveIntegerField(default=0, db_default=0)
    alert_error = models.CharField(max_length=500, blank=True, default="", db_default="")
    # When the platform gave its answer (responded, partially responded, refused, preserved):
    # the response-time figures of the lead dashboard.
    answered_at = models.DateTimeField(null=True, blank=True)
    # A removal order (TCO Art. 3(3), DSA Art. 9): when the legal team says the content was
    # removed or access to it disabled; shown to the authority (Art. 3(6): the time of it).
    content_removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The officer's list: one authority's requests, newest first.
            models.Index(fields=["authority", "-created_at"], name="request_authority_created"),
            models.Index(fields=["officer", "-created_at"], name="request_officer_created"),
            # Open requests by deadline (queue default order, deadline sweeps).
            models.Index(fields=["status", "due_at"], name="request_status_due"),
            # The queue filtered by status and instrument, in deadline order: by status alone
            # PostgreSQL read every in-review request to find the EPOCs (6.9 -> 3.5 ms for
            # ?status=in_review&instrument=epoc&country=FR at L, docs/performance.md).
            models.Index(
                fields=["status", "instrument", "due_at", "id"], name="request_status_instrument"
            ),
            # The review queue's keyset pagination: (due_at, id) in order, open requests only.
            models.Index(
                fields=["due_at", "id"],
                name="request_queue_open",
                condition=models.Q(status__in=["submitted", "in_review", "clarification"]),
            ),
            models.Index(fields=["assignee", "status"], name="request_assignee_status"),
            # The deadline sweep: requests whose next alert is due, oldest first.
            models.Index(
                fields=["next_alert_at"],
                name="request_next_alert",
                condition=models.Q(next_alert_at__isnull=False),
            ),
            models.Index(fields=["case_reference"], name="request_case_reference"),
            # The risk signals' volumes (risk._history), counted in every submission: an
            # officer's requests, and an authority's emergencies, received in 24 hours. By
            # the officer or authority alone the count read all their history (11.6 ms for an
            # officer with 6,000 requests at L, docs/performance.md).
            models.Index(fields=["officer", "received_at"], name="request_officer_received"),
            models.Index(
                fields=["authority", "received_at"],
                name="request_authority_emergency",
                condition=models.Q(is_emergency=True),
            ),
            # The hold-lapse sweep: notified orders whose window is still open, by its end.
            models.Index(
                fields=["hold_until"],
                name="request_hold_open",
                condition=models.Q(hold_until__isnull=False, hold_released_at__isnull=True),
            ),
            # /healthz, the lead dashboard and the leads' banner: the requests whose alerts are
            # failing (alert_failures > 0), normally none.
            models.Index(
                fields=["reference"],
                name="request_alerts_failing",
                condition=models.Q(alert_failures__gt=0),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["reference"], name="request_reference_unique"),
            models.CheckConstraint(
                condition=models.Q(status="draft") | models.Q(reference__isnull=False),
                name="submitted_request_has_reference",
            ),
            models.CheckConstraint(
                condition=models.Q(status="draft") | models.Q(received_at__isnull=False),
                name="submitted_request_has_received_at",
            ),
        ]

    def __str__(self) -> str:
        return self.reference or f"draft {self.public_id}"

    def on_hold(self, now=None) -> bool:
        """No data may go yet: the enforcing authority's window is open (e-Evidence Art. 10)."""
        return (
            self.hold_until is not None
            and self.hold_released_at is None
            and (now or timezone.now()) < self.hold_until
        )

    @property
    def categories_left(self) -> list[str]:
        """The requested categories the enforcing authority did not refuse."""
        return [c for c in self.data_categories if c not in self.refused_categories]

    @property
    def written_answer(self):
        """The platform's written answer (an inquiry), or None: the latest, read from the
        messages the selectors prefetch (no query of its own)."""
        answers = [m for m in self.messages.all() if m.kind == Message.Kind.ANSWER]
        return answers[-1] if answers else None

    def time_left(self, now=None):
        if self.due_at is None:
            return None
        return self.due_at - (now or timezone.now())


class RequestTarget(ChoiceLabels, models.Model):
    """One validated, normalised target identifier (a username, an E.164 number, a link)."""

    class Kind(models.TextChoices):
        USERNAME = "username", _("Username")
        PHONE = "phone", _("Phone number")
        URL = "url", _("Link to the platform")
        ACCOUNT_ID = "account_id", _("Account id")

    request = models.ForeignKey(LegalRequest, on_delete=models.CASCADE, related_name="targets")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.CharField(max_length=500)

    class Meta:
        ordering = ["pk"]
        indexes = [
            # Reviewers' search by target identifier.
            models.Index(fields=["value"], name="request_target_value"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "kind", "value"], name="request_target_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class ReferenceCounter(models.Model):
    """Per-year counter for human references (LR-2026-000123); rows locked while numbering, so
    it works the same on PostgreSQL and on the embedded SQLite."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class RequestEvent(ChoiceLabels, models.Model):
    """Every state change of a request: the timeline, the audit and the source of e-mails.
    Written in the same transaction as the change."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Draft created")
        SUBMITTED = "submitted", _("Received")
        STATUS_CHANGED = "status_changed", _("Status changed")
        MESSAGE = "message", _("Message")
        AMENDMENT = "amendment", _("Amendment")
        ATTACHMENT_ADDED = "attachment_added", _("Document added")
        CLOCK_STOPPED = "clock_stopped", _("Clock stopped (clarification asked)")
        CLOCK_RESTARTED = "clock_restarted", _("Clock restarted (clarification answered)")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        PRESERVATION_EXTENSION = "preservation_extension", _("Preservation extended by 30 days")
        PRODUCTION_CONFIRMED = "production_confirmed", _("Production request confirmed")
        ASSIGNED = "assigned", _("Assigned")
        ACCEPTED = "accepted", _("Accepted for review")
        REFUSED = "refused", _("Refused")
        RESPONDED = "responded", _("Response with produced data")
        REMOVAL_CONFIRMED = "removal_confirmed", _("Removal or disabling of access confirmed")
        ANSWERED = "answered", _("Answered in writing")
        PARTIALLY_RESPONDED = "partially_responded", _("Partial response")
        PRESERVED = "preserved", _("Preservation confirmed")
        EXTENSION_CONFIRMED = "extension_confirmed", _("Preservation extension confirmed")
        CLOSED = "closed", _("Closed")
        CALLBACK = "callback", _("Call-back to the registry number")
        DISCLOSURE_APPROVED = "disclosure_approved", _("Emergency disclosure approved")
        PRESERVATION_ENDED = "preservation_ended", _("Preservation ended by the issuing authority")
        VALIDATION_GRANTED = "validation_granted", _("Ex post validation recorded")
        VALIDATION_REFUSED = "validation_refused", _("Ex post validation refused")
        DATA_DELETED = "data_deleted", _("Deletion of the data recorded")
        ENFORCING_NO_GROUND = (
            "enforcing_no_ground",
            _("Enforcing authority: no ground for refusal"),
        )
        ENFORCING_GROUNDS = "enforcing_grounds", _("Enforcing authority: grounds for refusal")
        HOLD_LAPSED = (
            "hold_lapsed",
            _("Enforcing authority's window lapsed without an answer: hold released"),
        )
        FILE_PURGED = "file_purged", _("File purged after its retention period")
        LEGAL_HOLD_SET = "legal_hold_set", _("Legal hold set")
        LEGAL_HOLD_RELEASED = "legal_hold_released", _("Legal hold released")

    request = models.ForeignKey(LegalRequest, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    from_status = models.CharField(max_length=30, blank=True)
    to_status = models.CharField(max_length=30, blank=True)
    # Shown to the authority? Internal notes of the legal team are not.
    visible_to_authority = models.BooleanField(default=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["request", "at"], name="request_event_request_at")]

    def __str__(self) -> str:
        return f"{self.request_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"


class Message(ChoiceLabels, models.Model):
    class Kind(models.TextChoices):
        FROM_AUTHORITY = "from_authority", _("From the authority")
        FROM_PLATFORM = "from_platform", _("From the platform")
        CLARIFICATION_REQUEST = "clarification_request", _("Clarification requested")
        CLARIFICATION_ANSWER = "clarification_answer", _("Clarification answer")
        AMENDMENT = "amendment", _("Amendment from the authority")
        ANSWER = "answer", _("Answer from the platform")

    request = models.ForeignKey(LegalRequest, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    body = models.TextField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.request_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"


def _attachment_path(instance, filename: str) -> str:
    # A random name, nothing from the uploader: no path tricks, no guessable URLs.
    return f"attachments/{uuid.uuid4().hex}"


class Attachment(models.Model):
    """A document (signed order, reply) checked by content; stored under a random name outside
    the web root and served only by the access-checked download view."""

    class Purpose(models.TextChoices):
        ORDER = "order", _("Signed order")
        MESSAGE = "message", _("Message attachment")
        VALIDATION = "validation", _("Ex post validation decision")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    request = models.ForeignKey(LegalRequest, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.ORDER)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)
    file = models.FileField(upload_to=_attachment_path, max_length=200)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    pages = models.PositiveIntegerField(null=True, blank=True)
    checks = models.JSONField(default=dict)
    # What the sandboxed checker found of the PDF's signatures at upload, one record each
    # (requests_app/pdfsignatures.py); [] for an unsigned file or an image; None for a document
    # uploaded before signatures were verified (not known, not unsigned).
    signatures = models.JSONField(default=list, blank=True, null=True)
    # Custody (requests_app/custody.py): the file's own data key, wrapped by the master keys
    # (blank once purged); when the file is due to be purged (None: not yet scheduled), and when
    # it was (the row stays, name, size and digest, for the record).
    wrapped_key = models.TextField(blank=True, default="", db_default="")
    purge_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.content_type}, {self.size} bytes)"


class OutboxRow(models.Model):
    """The columns every row of a database outbox has besides its state (requests_app.outbox):
    when it is due, the lease a worker holds on it, how many attempts it took and the last
    error."""

    created_at = models.DateTimeField(default=timezone.now)
    send_after = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        abstract = True


def _receipt_path(instance, filename: str) -> str:
    return f"receipts/{uuid.uuid4().hex}"


class SealedFile(models.Model):
    """What every PDF the platform seals keeps (requests_app.sealing): the file, outside the web
    root under a random name, its own SHA-256 (the one the e-mails quote) and how it was sealed."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(default=timezone.now)
    seal_subject = models.CharField(max_length=300)
    # PAdES B-T (a time-stamping authority's time) or B-B (the platform's own clock).
    timestamped = models.BooleanField(default=False)

    class Meta:
        abstract = True


class Receipt(SealedFile):
    """The sealed receipt of a submitted request (requests_app.receipts): a PDF written and
    sealed in the submission's transaction, so no submitted request is ever without one. Stored
    outside the web root; its own SHA-256 is here, and in the acknowledgment e-mail."""

    request = models.OneToOneField(LegalRequest, on_delete=models.CASCADE, related_name="receipt")
    file = models.FileField(upload_to=_receipt_path, max_length=200)

    def __str__(self) -> str:
        return f"receipt of {self.request_id} ({self.sha256[:12]})"

    @property
    def file_name(self) -> str:
        return f"receipt-{self.request.reference}.pdf"


class OwedReceipt(OutboxRow):
    """A receipt the platform owes (requests_app.receipts): written in the submission's
    transaction, the source of truth that a receipt is to be issued; a Celery task seals it
    after commit and the sweep hands it out again while it is due (requests_app.outbox's
    rules: a lease, so that two workers never seal twice; backoff between attempts). The row
    stays once the receipt is issued, with how many attempts it took."""

    class State(models.TextChoices):
        PENDING = "pending", _("Being prepared")
        SEALING = "sealing", _("Being sealed")
        ISSUED = "issued", _("Issued")

    request = models.OneToOneField(
        LegalRequest, on_delete=models.CASCADE, related_name="owed_receipt"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = outbox_sweep_indexes("owed_receipt", "sealing")

    def __str__(self) -> str:
        return f"receipt owed for {self.request_id} ({self.state})"


def _sealed_document_path(instance, filename: str) -> str:
    return f"sealed/{uuid.uuid4().hex}"


class SealedDocument(SealedFile):
    """A sealed PDF the legal team's action issues (requests_app.sealing), in that action's
    transaction: the Annex III-style notice of a refusal or of a clarification request, or the
    manifest of a delivery of produced data. Unlike the receipt (one per request, a one-to-one
    row), a request may have several: one per clarification asked, one per delivery; each
    names the event that caused it."""

    class Kind(models.TextChoices):
        REFUSAL_NOTICE = "refusal_notice", _("Notice of refusal")
        CLARIFICATION_NOTICE = "clarification_notice", _("Notice of a clarification request")
        DELIVERY_MANIFEST = "delivery_manifest", _("Delivery manifest")

    request = models.ForeignKey(
        LegalRequest, on_delete=models.CASCADE, related_name="sealed_documents"
    )
    event = models.OneToOneField(
        RequestEvent, on_delete=models.CASCADE, related_name="sealed_document"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    file = models.FileField(upload_to=_sealed_document_path, max_length=200)

    class Meta:
        ordering = ["sealed_at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} of {self.request_id} ({self.sha256[:12]})"

    @property
    def file_name(self) -> str:
        stem = self.kind.replace("_", "-")
        return (
            f"{stem}-{self.request.reference}-{self.sealed_at.astimezone(UTC):%Y%m%dT%H%M%SZ}.pdf"
        )


class Notification(OutboxRow):
    """The e-mail outbox. A row is written in the transaction that causes the e-mail (its `key`
    unique, so the same notice is never queued twice); Celery only delivers. A send claims the row
    with a lease (conditional update), sends, then marks it sent: a lost task, a Redis flush or a
    killed worker leaves a pending row that the sweep hands out again."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        # A deadline alert whose deadline changed or whose request was resolved before it went.
        CANCELLED = "cancelled", _("Cancelled")

    class AlertKind(models.TextChoices):
        NONE = "", _("Not a deadline alert")
        ARRIVAL = "arrival", _("Urgent request arrived")
        FRACTION = "fraction", _("Part of the time allowed used")
        DEADLINE = "deadline", _("Deadline reached")
        OVERDUE = "overdue", _("Overdue: escalation to leads")
        PRESERVATION = "preservation", _("Preservation about to lapse")
        PRESERVATION_END = "preservation_end", _("Preservation over: delete the data")
        VALIDATION_DUE = "validation_due", _("Ex post validation due")
        VALIDATION_FAILED = "validation_failed", _("Validation refused or lapsed: delete the data")
        DIGEST = "digest", _("Daily digest")

    # Unique by a constraint (Meta), not unique=True: that would add a LIKE index nothing uses.
    key = models.CharField(max_length=200)
    alert_kind = models.CharField(max_length=20, choices=AlertKind.choices, blank=True)
    # Percent of the time allowed (fraction, deadline=100), repeat number (overdue) or days
    # before the lapse (preservation).
    threshold = models.IntegerField(null=True, blank=True)
    deadline_version = models.PositiveIntegerField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True, help_text="When the alert was due.")
    # A send that found the previous attempt's lease expired: the SMTP server may have accepted
    # the message before that worker died, so this send may be the one allowed duplicate.
    recovered_after_crash = models.BooleanField(default=False)
    request = models.ForeignKey(
        LegalRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    recipients = models.JSONField()
    template = models.CharField(max_length=100)
    context = models.JSONField(default=dict)
    language = models.CharField(max_length=8, default="en")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            # The delivery sweep: pending rows whose time has come, sends whose worker died.
            *outbox_sweep_indexes("notification", "sending"),
            # The delivery sweep: rows that kept failing (bad address, template, row), still
            # retried with backoff; and the leads' failing count.
            models.Index(
                fields=["send_after"],
                name="notification_failed_due",
                condition=models.Q(state="failed"),
            ),
        ]
        constraints = [
            # One row per key: queueing a key again does nothing (notifications_enqueue).
            models.UniqueConstraint(fields=["key"], name="notification_key_unique"),
            # One alert per request, kind, threshold and version of the deadline: two sweeps,
            # two beats or a redelivered task can never queue the same alert twice.
            models.UniqueConstraint(
                fields=["request", "alert_kind", "threshold", "deadline_version"],
                name="one_alert_per_deadline_version",
                condition=~models.Q(alert_kind=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class RefusalGround(models.TextChoices):
    """Grounds a reviewer refuses on (e-Evidence Annex III and Art. 12, DSA, platform policy)."""

    INCOMPLETE = "incomplete", _("The order is incomplete")
    MANIFEST_ERROR = "manifest_error", _("The order contains manifest errors")
    DATA_NOT_STORED = "data_not_stored", _("The data requested is not stored")
    IMPOSSIBLE = "impossible", _("Compliance is impossible (de facto)")
    OUTSIDE_SCOPE = "outside_scope", _("The request is outside the scope of the instrument")
    NOT_COMPETENT = "not_competent", _("Not issued by a competent authority")
    FUNDAMENTAL_RIGHTS = "fundamental_rights", _("Manifest breach of fundamental rights")
    IMMUNITY = "immunity", _("Immunities or privileges")
    NE_BIS_IN_IDEM = "ne_bis_in_idem", _("Ne bis in idem")
    DOUBLE_CRIMINALITY = "double_criminality", _("Double criminality not met")
    OTHER = "other", _("Other reason (explained)")


class EnforcingGround(models.TextChoices):
    """The grounds for refusal of an enforcing authority, e-Evidence Regulation Art. 12(1)."""

    IMMUNITY_OR_PRESS = (
        "immunity_or_press",
        _(
            "(a) The data are protected by immunities or privileges under the law of the "
            "enforcing State, or covered by rules on criminal liability relating to freedom of "
            "the press or of expression, which prevent the execution of the order"
        ),
    )
    FUNDAMENTAL_RIGHTS = (
        "fundamental_rights",
        _(
            "(b) Substantial grounds to believe, on specific and objective evidence, that the "
            "execution would entail a manifest breach of a fundamental right (Art. 6 TEU, the "
            "Charter)"
        ),
    )
    NE_BIS_IN_IDEM = (
        "ne_bis_in_idem",
        _("(c) The execution would be contrary to the principle of ne bis in idem"),
    )
    DOUBLE_CRIMINALITY = (
        "double_criminality",
        _(
            "(d) The conduct is not an offence under the law of the enforcing State (and is "
            "not an Annex IV offence punishable by at least 3 years in the issuing State)"
        ),
    )


class EnforcingRefusal(models.Model):
    """A ground for refusal the enforcing authority raised (e-Evidence Art. 12): for the whole
    order (no categories) or for some data categories, with its reasons."""

    request = models.ForeignKey(
        LegalRequest, on_delete=models.CASCADE, related_name="enforcing_refusals"
    )
    ground = models.CharField(max_length=30, choices=EnforcingGround.choices)
    categories = models.JSONField(default=list, blank=True)  # empty: the whole order
    reasons = models.TextField()
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    raised_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["raised_at", "pk"]

    def __str__(self) -> str:
        return f"{self.request_id} {self.ground} {self.categories or 'whole order'}"


class CallbackVerification(ChoiceLabels, models.Model):
    """A call-back to the registry's number for an emergency request: who called, when, which
    number (copied from the registry at the time of the call), and what they learnt."""

    class Outcome(models.TextChoices):
        CONFIRMED = "confirmed", _("Confirmed: the authority confirms the request")
        NOT_CONFIRMED = "not_confirmed", _("Not confirmed: the authority does not know it")
        UNREACHABLE = "unreachable", _("Unreachable")

    request = models.ForeignKey(LegalRequest, on_delete=models.CASCADE, related_name="callbacks")
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    phone = models.CharField(max_length=20)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.request_id} {self.outcome} {self.at:%Y-%m-%d %H:%M}"


class DisclosureApproval(models.Model):
    """A lead's approval of an emergency disclosure: the second pair of eyes."""

    request = models.ForeignKey(LegalRequest, on_delete=models.CASCADE, related_name="approvals")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "approved_by"], name="one_approval_each")
        ]

    def __str__(self) -> str:
        return f"{self.request_id} approved by {self.approved_by_id}"


def _produced_path(instance, filename: str) -> str:
    return f"produced/{uuid.uuid4().hex}"


class ProducedData(models.Model):
    """Data the platform produces for an authority: delivered only through the portal, by an
    expiring, audited download; never by e-mail."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    request = models.ForeignKey(LegalRequest, on_delete=models.CASCADE, related_name="produced")
    file = models.FileField(upload_to=_produced_path, max_length=200)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # Custody (requests_app/custody.py): the file's own data key, wrapped by the master keys
    # (blank once purged); when the file is due to be purged (None: not yet scheduled), and when
    # it was (the row stays, name, size and digest, for the record).
    wrapped_key = models.TextField(blank=True, default="", db_default="")
    purge_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return f"{self.original_name} for {self.request_id}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class AccessLog(HashChainedModel):
    """Who saw what: every view of a request, every document opened, every download. Append-only
    and hash-chained (portal.audit_chain): the application refuses to update or delete a row, and
    so does PostgreSQL (a trigger, see migration 0003); verify_audit finds tampering."""

    chain_lock = 4_240_001  # pg_advisory_xact_lock key of this chain

    class Action(models.TextChoices):
        VIEW_REQUEST = "view_request", _("Viewed the request")
        OPEN_ATTACHMENT = "open_attachment", _("Opened a document")
        DOWNLOAD_PRODUCED = "download_produced", _("Downloaded produced data")
        DOWNLOAD_REFUSED = "download_refused", _("Download refused (link expired)")
        EXPORT_REPORT = "export_report", _("Exported the transparency report")
        # One row per call of an API client, under its officer (api/audit.py).
        API_CALL = "api_call", _("Called the API")

    at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=30, choices=Action.choices)
    request = models.ForeignKey(
        LegalRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="access_logs"
    )
    object_ref = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["request", "-at"], name="access_log_request_at")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.action} {self.object_ref} {self.at:%Y-%m-%d %H:%M}"

    def content(self) -> str:
        """The hashed content: every field but the id and the hashes."""
        return "|".join(
            [
                self.at.astimezone(UTC).isoformat(),
                str(self.user_id),
                self.ip_address or "",
                self.action,
                str(self.request_id or ""),
                self.object_ref,
            ]
        )


class TrustedList(models.Model):
    """An imported ETSI TS 119 612 trusted list of one Member State (manage.py
    import_trust_list): where its qualified CAs came from. The latest import of a territory is
    the one in force; older ones stay as the record of what was trusted when."""

    territory = models.CharField(max_length=2)
    sequence_number = models.PositiveIntegerField()
    issued_at = models.DateTimeField()
    next_update = models.DateTimeField(null=True, blank=True)
    operator = models.CharField(max_length=300, blank=True)
    file_name = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    imported_at = models.DateTimeField(default=timezone.now)
    in_force = models.BooleanField(default=True)

    class Meta:
        ordering = ["territory", "-sequence_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["territory"],
                condition=models.Q(in_force=True),
                name="one_trusted_list_in_force_per_territory",
            )
        ]

    def __str__(self) -> str:
        return f"{self.territory} trusted list #{self.sequence_number} ({self.issued_at:%Y-%m-%d})"


class QualifiedCA(models.Model):
    """A CA certificate of a qualified certificate service (CA/QC, granted) in a trusted list."""

    trusted_list = models.ForeignKey(TrustedList, on_delete=models.CASCADE, related_name="cas")
    provider = models.CharField(max_length=300)
    service = models.CharField(max_length=300)
    subject = models.CharField(max_length=500)
    pem = models.TextField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["provider", "service"]

    def __str__(self) -> str:
        return f"{self.service} ({self.provider})"


# The API's models (requests_app/api/models.py) belong to this app: its registry loads them here.
from requests_app.api import models as api_models  # noqa: E402, F401
