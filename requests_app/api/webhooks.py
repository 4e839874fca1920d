"""Webhooks: a client's endpoint is told, by a signed POST, that something happened to a
request its officer may read (docs/api.md, "Webhooks").

The scheme is Standard Webhooks (https://www.standardwebhooks.com/): the headers `webhook-id`,
`webhook-timestamp` and `webhook-signature`, the last `v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">` keyed with the secret `whsec_<base64>`. HMAC from the standard
library, nothing hand-rolled beyond the message layout the spec fixes.

Deliveries go through a database outbox with the e-mails' rules (requests_app/notifications.py):
a row per (endpoint, event) written in the event's transaction, handed to Celery after commit,
claimed with a lease so that a redelivered task sends nothing twice, handed out again by the
sweep (a lost task, a Redis flush), retried with exponential backoff (RETRY_DELAYS) and marked
failed after the last attempt. A payload carries the event type and ids, never a request's
content: the client reads the rest through the API, under the API's rules.
"""

import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext

from authorities.selectors import officer_block_reason
from requests_app import policies, selectors
from requests_app.models import RequestEvent
from requests_app.outbox import Outbox

from .models import ApiClient, WebhookAttempt, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)
State = WebhookDelivery.State

# After attempt n fails, attempt n + 1 waits RETRY_DELAYS[n - 1]: 30 s times 4 each time, seven
# attempts in all over about 11 hours (docs/api.md, "Retries"). Then the row is failed.
RETRY_DELAYS = [timedelta(seconds=30 * 4**n) for n in range(6)]
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# How long the previous secret still signs after a rotation (both signatures are sent).
ROTATION_GRACE = timedelta(hours=24)
# A post's connect and read timeout; a claim's lease is far longer, so a live worker keeps it.
TIMEOUT_SECONDS = 10
LEASE = timedelta(minutes=5)
DELIVER_TASK = "requests_app.tasks.deliver_webhooks"
DELIVERY_BATCH = 20
OUTBOX = Outbox(model=WebhookDelivery, task=DELIVER_TASK, lease=LEASE, batch=DELIVERY_BATCH)


# --- Secrets and signatures -------------------------------------------------------------------


def secret_new() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256>` of "{id}.{timestamp}.{body}" keyed with the secret's bytes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(endpoint: WebhookEndpoint, webhook_id: str, body: str) -> dict[str, str]:
    """The headers of one post: a signature per secret in force, space-separated (the spec's
    form for a rotation)."""
    timestamp = int(timezone.now().timestamp())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret, webhook_id, timestamp, body) for secret in endpoint.signing_secrets()
        ),
    }


# --- Which addresses may receive --------------------------------------------------------------


def _insecure_loopback_allowed() -> bool:
    # Tests only (a receiver on 127.0.0.1 over plain HTTP); documented in docs/api.md.
    return bool(getattr(settings, "PORTAL_WEBHOOKS_ALLOW_INSECURE_LOOPBACK", False))


def _address_refusal(address: str) -> str:
    ip = ipaddress.ip_address(address)
    if ip.is_loopback and _insecure_loopback_allowed():
        return ""
    if settings.DEBUG:
        return ""
    if not ip.is_global or ip.is_multicast:
        return gettext("%(address)s is a private or local address.") % {"address": address}
    return ""


def url_check(url: str) -> list[str]:
    """An address the portal may post to: HTTPS, a host name or address that resolves only to
    public addresses (outside DEBUG), no credentials in it. ValidationError says why not; else
    the addresses it resolved to, all checked."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    loopback_http = (
        parts.scheme == "http" and _insecure_loopback_allowed() and _is_loopback_literal(host)
    )
    if parts.scheme != "https" and not loopback_http:
        raise ValidationError(gettext("The address must start with https://."))
    if not host or parts.username or parts.password or parts.fragment:
        raise ValidationError(
            gettext("Give an address with a host, without a password or a fragment.")
        )
    addresses = _resolve(host, parts.port or 443)
    for address in addresses:
        refusal = _address_refusal(address)
        if refusal:
            raise ValidationError(refusal)
    return addresses


def _is_loopback_literal(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ValidationError(gettext("%(host)s cannot be found.") % {"host": host}) from None
    return sorted({info[4][0] for info in infos})


# --- The owner's actions ----------------------------------------------------------------------


def _own(officer, client: ApiClient) -> None:
    if client.officer_id != officer.pk:
        raise PermissionDenied(gettext("Only the client's officer may change its webhook."))


@transaction.atomic
def webhook_endpoint_set(*, officer, client: ApiClient, url: str) -> tuple[WebhookEndpoint, str]:
    """Register (or change) the client's endpoint. A new endpoint gets a secret, returned once
    (the second value); a changed address keeps its secret ("" returned)."""
    _own(officer, client)
    if client.revoked_at is not None:
        raise ValidationError(gettext("This client is revoked: it receives nothing."))
    url_check(url)
    endpoint = WebhookEndpoint.objects.filter(client=client).first()
    if endpoint is None:
        secret = secret_new()
        endpoint = WebhookEndpoint.objects.create(client=client, url=url.strip(), secret=secret)
        return endpoint, secret
    endpoint.url = url.strip()
    endpoint.disabled_at = None
    endpoint.save(update_fields=["url", "disabled_at"])
    return endpoint, ""


@transaction.atomic
def webhook_secret_rotate(*, officer, client: ApiClient) -> str:
    """A new secret, returned once; the old one keeps signing too for ROTATION_GRACE."""
    _own(officer, client)
    endpoint = WebhookEndpoint.objects.select_for_update().get(client=client)
    secret = secret_new()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = timezone.now() + ROTATION_GRACE
    endpoint.secret = secret
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
    return secret


@transaction.atomic
def webhook_endpoint_disable(*, officer, client: ApiClient) -> None:
    """No more events; what was queued is cancelled at its next attempt."""
    _own(officer, client)
    WebhookEndpoint.objects.filter(client=client, disabled_at__isnull=True).update(
        disabled_at=timezone.now()
    )


def webhook_attempts_for_owner(officer, client: ApiClient, limit: int = 50):
    """The last attempts of the client's deliveries, for its owner's page."""
    return (
        WebhookAttempt.objects.filter(
            delivery__endpoint__client=client, delivery__endpoint__client__officer=officer
        )
        .select_related("delivery")
        .order_by("-at", "-pk")[:limit]
    )


# --- Queueing ---------------------------------------------------------------------------------


def payload(event: RequestEvent) -> str:
    """The body: the event type and ids, nothing of the request's content."""
    return json.dumps(
        {
            "type": f"request.{event.kind}",
            "timestamp": event.at.isoformat(),
            "data": {"request_id": str(event.request.public_id), "event_id": event.pk},
        },
        separators=(",", ":"),
    )


def _client_may_read(client: ApiClient, event: RequestEvent) -> bool:
    """What the events feed would show this client's token (GET /api/v1/events/): an active
    client with the read scope, whose officer may use the portal and sees the request, or is
    told of it as its enforcing authority."""
    officer = client.officer
    return (
        client.state == "active"
        and client.has_scope(ApiClient.Scope.READ)
        and officer.is_active
        and officer.authority_id == client.authority_id
        and officer_block_reason(officer) is None
        and (
            policies.officer_sees(officer, event.request)
            or selectors.enforcer_told_of(officer, event)
        )
    )


def webhooks_enqueue(event: RequestEvent) -> list[int]:
    """Queue the event for every active endpoint whose client would see it in the events feed,
    once per (endpoint, event), inside the event's transaction; hand the rows to Celery after
    commit. Called for each new event row (the post_save receiver wired in apps.py)."""
    if not event.visible_to_authority:
        return []
    legal_request = event.request
    authorities = {legal_request.authority_id}
    if legal_request.enforcing_notified and event.kind in selectors.ENFORCER_EVENT_KINDS:
        authorities.add(legal_request.enforcing_authority_id)
    endpoints = list(
        WebhookEndpoint.objects.filter(
            disabled_at__isnull=True,
            client__authority_id__in=authorities,
            client__revoked_at__isnull=True,
            client__approved_at__isnull=False,
            client__expires_at__gt=timezone.now(),
        )
    )
    if not endpoints:
        # Most authorities have none: every event of every submission asks, so the question
        # is one narrow query, and the clients are read only when there is an endpoint.
        return []
    prefetch_related_objects(endpoints, "client__officer__authority")
    targets = [e for e in endpoints if _client_may_read(e.client, event)]
    if not targets:
        return []
    body = payload(event)
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint=endpoint, event=event, event_type=f"request.{event.kind}", body=body
            )
            for endpoint in targets
        ],
        ignore_conflicts=True,
    )
    pks = list(
        WebhookDelivery.objects.filter(
            event=event, endpoint__in=targets, state=State.PENDING, attempts=0
        ).values_list("pk", flat=True)
    )
    OUTBOX.hand_off_after_commit(pks)
    return pks


# The shared outbox's rules (requests_app/outbox.py): the rows the sweep hands out again.
webhook_deliveries_due = OUTBOX.due


def webhook_deliveries_purge() -> int:
    """Forget finished deliveries (and their attempts) older than the retention: the owner's
    page shows the recent ones, the events feed keeps the events themselves."""
    cutoff = timezone.now() - timedelta(days=settings.PORTAL_WEBHOOK_RETENTION_DAYS)
    deleted, _ = WebhookDelivery.objects.filter(
        created_at__lt=cutoff, state__in=[State.SENT, State.FAILED, State.CANCELLED]
    ).delete()
    return deleted


# --- Delivery ---------------------------------------------------------------------------------


def webhooks_deliver(delivery_ids: Sequence[int]) -> int:
    """Post a batch of rows; returns how many were delivered. Safe to run twice at once or
    after a crash: only the holder of an unexpired lease posts a row.

    1. Claim the due rows not held (FOR UPDATE SKIP LOCKED, one UPDATE): a lease, one attempt
       more.
    2. For each: cancel it if its endpoint was disabled or its client may no longer read the
       request; else post it, signed now, and record the attempt.
    3. A 2xx answer marks it sent at once. Anything else (another status, a timeout, a refused
       address) waits RETRY_DELAYS and is pending again, or failed after MAX_ATTEMPTS.
    4. Rows not reached within half the lease go back to pending, the attempt not counted.
    """
    return OUTBOX.work(delivery_ids, _deliver_one, rows=_claimed_rows)


def _claimed_rows(claimed: list[int]) -> list[WebhookDelivery]:
    return list(
        WebhookDelivery.objects.filter(pk__in=claimed)
        .select_related("endpoint__client__officer__authority", "event__request")
        .order_by("pk")
    )


def _deliver_one(row: WebhookDelivery) -> int:
    endpoint = row.endpoint
    if not endpoint.is_active or not _client_may_read(endpoint.client, row.event):
        WebhookDelivery.objects.filter(pk=row.pk, state=State.SENDING).update(
            state=State.CANCELLED,
            lease_until=None,
            last_error="The endpoint or its client no longer receives this event.",
        )
        return 0
    outcome = _post(endpoint.url, row.body, signed_headers(endpoint, row.webhook_id, row.body))
    WebhookAttempt.objects.create(
        delivery=row,
        at=outcome.at,
        status_code=outcome.status_code,
        error=outcome.error[:300],
        duration_ms=outcome.duration_ms,
    )
    if outcome.status_code is not None and 200 <= outcome.status_code < 300:
        WebhookDelivery.objects.filter(pk=row.pk).update(
            state=State.SENT, sent_at=timezone.now(), lease_until=None, last_error=""
        )
        return 1
    error = outcome.error or f"HTTP {outcome.status_code}"
    attempts = row.attempts  # loaded after the claim, which counted this one
    last = attempts >= MAX_ATTEMPTS
    WebhookDelivery.objects.filter(pk=row.pk).update(
        state=State.FAILED if last else State.PENDING,
        lease_until=None,
        send_after=timezone.now() + (timedelta(0) if last else RETRY_DELAYS[attempts - 1]),
        last_error=error[:500],
    )
    logger.warning("webhook %s failed (attempt %s): %s", row.webhook_id, attempts, error)
    return 0


@dataclass
class _Outcome:
    at: object
    status_code: int | None = None
    error: str = ""
    duration_ms: int = 0


def _post(url: str, body: str, headers: dict[str, str]) -> _Outcome:
    """One POST, no redirect followed, to an address checked again now (a name that resolved
    to a public address at registration may not any more): the connection goes to the address
    that was checked, never to a second lookup's."""
    at = timezone.now()
    started = time.monotonic()
    outcome = _Outcome(at=at)
    try:
        parts = urlsplit(url)
        address = url_check(url)[0]
        port = parts.port or (443 if parts.scheme == "https" else 80)
        connection = _connection(parts.scheme, parts.hostname or "", address, port)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request(
                "POST",
                path,
                body=body.encode(),
                headers={
                    **headers,
                    "Content-Type": "application/json",
                    "User-Agent": "portal-webhooks/1",
                },
            )
            response = connection.getresponse()
            response.read(64 * 1024)  # the answer's body is not kept
            outcome.status_code = response.status
        finally:
            connection.close()
    except ValidationError as refusal:
        outcome.error = " ".join(refusal.messages)
    except (OSError, http.client.HTTPException) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome


def _connection(scheme: str, host: str, address: str, port: int) -> http.client.HTTPConnection:
    if scheme == "http":  # only a test's loopback receiver (url_check)
        return http.client.HTTPConnection(address, port, timeout=TIMEOUT_SECONDS)
    return _PinnedHTTPSConnection(host, address, port)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a given address, the certificate checked for the host name."""

    def __init__(self, host: str, address: str, port: int) -> None:
        super().__init__(host, port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def deliver_all_due() -> int:
    """Post every due delivery in this process (tests use it)."""
    return OUTBOX.work_all_due(webhooks_deliver)
