"""API clients of authorities' case systems and their idempotency keys (docs/api.md)."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from requests_app.outbox import outbox_sweep_indexes


class ApiClient(models.Model):
    """A case system of one authority, registered by one of its approved officers and approved
    by staff. Every call it makes acts as, and is audited under, that officer. The token is shown
    once: only its SHA-256 is kept, with a short prefix to recognise it in lists and logs."""

    class Scope(models.TextChoices):
        READ = "read", _("Read requests, documents, messages, deliveries and events")
        SUBMIT = "submit", _("Create, submit and withdraw requests, add targets and documents")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    authority = models.ForeignKey(
        "authorities.Authority", on_delete=models.PROTECT, related_name="api_clients"
    )
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_clients"
    )
    scopes = models.JSONField(default=list)
    # One address or network (CIDR) per line; empty: any address.
    allowed_ips = models.TextField(blank=True, default="")
    token_prefix = models.CharField(max_length=16, unique=True)
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        if self.approved_at is None:
            return "awaiting_approval"
        return "active"


class IdempotencyKey(models.Model):
    """The answer to a client's POST with an Idempotency-Key header, kept so that the same POST
    sent again (a timeout, a retry) gets the same answer and never makes a second request."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    # What was asked (method, path and a hash of the body): the same key for another POST is
    # a client's error, answered 422, never the stored answer of the first.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotency_key_per_client")
        ]
        # The purge's query (api.tasks.purge_idempotency_keys): created_at < the cutoff.
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_created")]

    def __str__(self) -> str:
        return self.key


class EmergencyConfirmation(models.Model):
    """An emergency draft a client asked to submit: it waits for its officer to confirm it in
    the pages with a fresh second factor (a stolen token must never produce an emergency
    disclosure). The request stays a draft, so the legal clock starts at the confirmation."""

    legal_request = models.OneToOneField(
        "requests_app.LegalRequest", on_delete=models.CASCADE, related_name="api_confirmation"
    )
    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.legal_request_id} {'confirmed' if self.confirmed_at else 'waiting'}"


class WebhookEndpoint(models.Model):
    """The HTTPS address a client's events are posted to (Standard Webhooks, docs/api.md,
    "Webhooks"), one per client. The secret signs each post: it must be kept readable to sign,
    so it is shown to the owner once (at creation and rotation) and never again. After a
    rotation the previous secret also signs until `previous_secret_until`, so a receiver can
    switch without dropping an event."""

    client = models.OneToOneField(ApiClient, on_delete=models.CASCADE, related_name="webhook")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    disabled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.url

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    def signing_secrets(self) -> list[str]:
        """The secrets a post is signed with now: the current one, and the previous one while
        its grace period lasts."""
        secrets = [self.secret]
        if (
            self.previous_secret
            and self.previous_secret_until
            and self.previous_secret_until > timezone.now()
        ):
            secrets.append(self.previous_secret)
        return secrets


class WebhookDelivery(models.Model):
    """The outbox of webhooks, as Notification is that of e-mails: one row per (endpoint,
    event), written in the event's transaction, posted by a Celery task after commit and
    handed out again by the sweep while it is due. The body is fixed when the row is written
    (ids and the event type only); the signature and its timestamp are made at each attempt."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Delivered")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    # The webhook-id header: the same for every attempt of this row, so a receiver that got
    # it twice (an answer lost on the way back) can tell.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(
        "requests_app.RequestEvent", on_delete=models.CASCADE, related_name="+"
    )
    event_type = models.CharField(max_length=60)
    body = models.TextField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    send_after = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_once_per_event")
        ]
        # The sweep's queries (webhooks.webhook_deliveries_due): pending rows whose time has
        # come, sending rows whose lease ran out.
        indexes = outbox_sweep_indexes("webhook", "sending")

    def __str__(self) -> str:
        return f"{self.event_type} {self.public_id} ({self.state})"

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.public_id.hex}"


class WebhookAttempt(models.Model):
    """One post of a delivery, shown to the client's owner: when, the answer's status code or
    the error, how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"
