"""Webhooks (issue 19): registered by the client's officer in the pages, signed as Standard
Webhooks do (checked with the independent `standardwebhooks` package), posted from a database
outbox to a real HTTP receiver on a loopback port, retried with backoff, swept again after a lost
task, never with a request's content, never to another authority's client."""

import ipaddress
import json
import re
import ssl
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from celery.signals import before_task_publish
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from authorities.constants import Instrument
from requests_app import tasks
from requests_app.api import webhooks
from requests_app.api.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from requests_app.models import LegalRequest
from requests_app.review import services as review_services
from tests.conftest import current_code, verified_login
from tests.requests_app.helpers import VALID, submit

from .helpers import approved_client

pytestmark = pytest.mark.django_db


class Receiver:
    """An HTTP server on a loopback port, in a thread: it records each post and answers with
    the next status of `statuses` (200 once they run out)."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict, bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/portal"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def payloads(self) -> list[dict]:
        return [json.loads(body) for _, body in self.posts]


@pytest.fixture
def loopback_allowed(settings):
    settings.PORTAL_WEBHOOKS_ALLOW_INSECURE_LOOPBACK = True


@pytest.fixture
def receiver(loopback_allowed):
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def hooked(officer, staff, receiver):
    """The officer's approved client (read and submit), its webhook on the receiver."""
    client, _ = approved_client(officer, staff)
    endpoint, secret = webhooks.webhook_endpoint_set(
        officer=officer, client=client, url=receiver.url
    )
    return client, endpoint, secret


def submit_epoc(http, officer) -> LegalRequest:
    verified_login(http, officer)
    assert submit(http, Instrument.EPOC, VALID[Instrument.EPOC]).status_code == 302
    return LegalRequest.objects.exclude(status="draft").latest("pk")


def headers_of(post) -> dict:
    headers, _ = post
    return {k: headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}


# --- The signature scheme ---------------------------------------------------------------------


def test_signature_is_the_standard_webhooks_one():
    # The same message signed by the independent implementation gives the same header.
    secret = webhooks.secret_new()
    assert secret.startswith("whsec_")
    at = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
    body = '{"type":"request.submitted"}'
    ours = webhooks.signature(secret, "msg_1", int(at.timestamp()), body)
    assert ours == Webhook(secret).sign("msg_1", at, body)


def test_receiver_gets_a_signed_event_that_standardwebhooks_accepts(
    client, officer, hooked, receiver
):
    _, _, secret = hooked
    legal_request = submit_epoc(client, officer)
    assert webhooks.deliver_all_due() >= 1
    assert receiver.posts
    for post in receiver.posts:
        headers, body = post
        assert headers["content-type"] == "application/json"
        assert headers["webhook-id"].startswith("msg_")
        # The package's verify raises on a bad signature or a stale timestamp.
        assert Webhook(secret).verify(body, headers_of(post)) == json.loads(body)
    submitted = [p for p in receiver.payloads() if p["type"] == "request.submitted"]
    assert len(submitted) == 1
    assert submitted[0]["data"]["request_id"] == str(legal_request.public_id)
    # The event id is the events feed's cursor: the client reads the rest through the API.
    assert submitted[0]["data"]["event_id"] == legal_request.events.get(kind="submitted").pk


def test_payload_carries_ids_and_type_only(client, officer, hooked, receiver):
    legal_request = submit_epoc(client, officer)
    webhooks.deliver_all_due()
    for (_, body), payload in zip(receiver.posts, receiver.payloads(), strict=True):
        assert set(payload) == {"type", "timestamp", "data"}
        assert set(payload["data"]) == {"request_id", "event_id"}
        text = body.decode()
        for content in (
            legal_request.reference,
            legal_request.case_reference,
            legal_request.authority.name_en,
            *VALID[Instrument.EPOC]["targets"].split("\n"),
        ):
            assert content and content not in text


def test_rotation_signs_with_both_secrets_for_the_grace_period(
    client, officer, reviewer, hooked, receiver
):
    api_client, _, old = hooked
    legal_request = submit_epoc(client, officer)
    webhooks.deliver_all_due()
    receiver.posts.clear()
    new = webhooks.webhook_secret_rotate(officer=officer, client=api_client)
    assert new != old and new.startswith("whsec_")
    review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
    webhooks.deliver_all_due()
    post = receiver.posts[-1]
    assert len(headers_of(post)["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(post[1], headers_of(post))
    assert Webhook(old).verify(post[1], headers_of(post))
    # After the grace period only the new secret signs.
    with time_machine.travel(timezone.now() + webhooks.ROTATION_GRACE + timedelta(minutes=1)):
        legal_request.refresh_from_db()
        review_services.message_post_by_platform(
            reviewer=reviewer, legal_request=legal_request, body="A question"
        )
        webhooks.deliver_all_due()
        post = receiver.posts[-1]
        assert json.loads(post[1])["type"] == "request.message"
        assert len(headers_of(post)["webhook-signature"].split(" ")) == 1
        assert Webhook(new).verify(post[1], headers_of(post))
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(post[1], headers_of(post))


def docs_verify():
    """The by-hand verification in docs/api.md, as written there."""
    text = (django_settings.BASE_DIR / "docs" / "api.md").read_text()
    code = re.search(r"Or by hand.*?```python\n(.*?)```", text, re.S).group(1)
    scope: dict = {}
    exec(code, scope)  # noqa: S102  # the project's own documentation
    return scope["verify"]


def test_the_documented_check_by_hand_accepts_ours_and_refuses_a_change(
    client, officer, hooked, receiver
):
    api_client, _, old = hooked
    verify = docs_verify()
    submit_epoc(client, officer)
    new = webhooks.webhook_secret_rotate(officer=officer, client=api_client)
    webhooks.deliver_all_due()
    headers, body = receiver.posts[0]
    assert verify(new, headers, body) and verify(old, headers, body)
    assert not verify(webhooks.secret_new(), headers, body)
    assert not verify(new, headers, body.replace(b"request.", b"request.x"))


# --- The outbox -------------------------------------------------------------------------------


def test_retried_with_backoff_after_500_then_delivered_once(client, officer, hooked, receiver):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        submit_epoc(client, officer)
        count = WebhookDelivery.objects.count()
        receiver.statuses = [500] * count  # every first attempt fails
        assert webhooks.deliver_all_due() == 0
        assert len(receiver.posts) == count
        row = WebhookDelivery.objects.first()
        assert row.state == WebhookDelivery.State.PENDING and row.last_error == "HTTP 500"
        assert row.send_after == start + webhooks.RETRY_DELAYS[0]
        assert webhooks.deliver_all_due() == 0  # not before its time
        assert len(receiver.posts) == count
    with time_machine.travel(start + webhooks.RETRY_DELAYS[0] + timedelta(seconds=1)):
        assert webhooks.deliver_all_due() == count
    assert len(receiver.posts) == 2 * count
    # The same webhook-id on the retry: the receiver can tell it is the same event.
    assert receiver.posts[0][0]["webhook-id"] == receiver.posts[count][0]["webhook-id"]
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"sent"}
    # Delivered: never sent again, whatever runs later (a sweep, a redelivered task).
    with time_machine.travel(start + timedelta(days=2)):
        assert webhooks.deliver_all_due() == 0
        tasks.deliver_webhooks(list(WebhookDelivery.objects.values_list("pk", flat=True)))
    assert len(receiver.posts) == 2 * count
    attempts = WebhookAttempt.objects.filter(delivery=row).order_by("at")
    assert [a.status_code for a in attempts] == [500, 200]


def test_marked_failed_after_the_last_attempt(client, officer, staff, loopback_allowed):
    # Nothing listens on this port: every attempt is refused.
    api_client, _ = approved_client(officer, staff)
    webhooks.webhook_endpoint_set(officer=officer, client=api_client, url="http://127.0.0.1:9/x")
    at = timezone.now()
    with time_machine.travel(at, tick=False):
        submit_epoc(client, officer)
        row = WebhookDelivery.objects.get(event_type="request.submitted")
    for n in range(webhooks.MAX_ATTEMPTS):
        with time_machine.travel(at, tick=False):
            webhooks.deliver_all_due()
        at += webhooks.RETRY_DELAYS[n] if n < len(webhooks.RETRY_DELAYS) else timedelta(days=1)
    row.refresh_from_db()
    assert row.state == WebhookDelivery.State.FAILED
    assert row.attempts == webhooks.MAX_ATTEMPTS == 7
    assert "Connection" in row.last_error
    assert WebhookAttempt.objects.filter(delivery=row, status_code=None).count() == 7
    with time_machine.travel(at + timedelta(days=10)):
        assert row.pk not in webhooks.webhook_deliveries_due()


@pytest.fixture
def published():
    """The tasks handed to the broker (the real one): their names and arguments."""
    seen = []

    def note(sender=None, body=None, **kwargs):
        seen.append((sender, body[0]))

    before_task_publish.connect(note, weak=False)
    yield seen
    before_task_publish.disconnect(note)


def test_sweep_resends_a_delivery_whose_task_was_lost(client, officer, hooked, receiver, published):
    # The page's hand-off published the tasks, and no worker will ever run them: a Redis
    # flush, a lost task. The rows wait in the database.
    submit_epoc(client, officer)
    assert any(name == webhooks.DELIVER_TASK for name, _ in published)
    published.clear()
    pending = list(WebhookDelivery.objects.values_list("pk", flat=True))
    assert pending and not receiver.posts
    assert tasks.sweep_webhooks() == len(pending)
    handed = [args for name, args in published if name == webhooks.DELIVER_TASK]
    assert sorted(pk for args in handed for pk in args[0]) == sorted(pending)
    for args in handed:  # what the worker runs
        tasks.deliver_webhooks(*args)
    assert len(receiver.posts) == len(pending)
    for args in handed:  # the same tasks again (redelivered after a lost ack): nothing more
        tasks.deliver_webhooks(*args)
    assert len(receiver.posts) == len(pending)


def test_sweep_takes_back_a_delivery_whose_worker_died(client, officer, hooked, receiver):
    submit_epoc(client, officer)
    row = WebhookDelivery.objects.first()
    # A worker claimed it and died before posting.
    WebhookDelivery.objects.filter(pk=row.pk).update(
        state="sending", attempts=1, lease_until=timezone.now() + webhooks.LEASE
    )
    assert row.pk not in webhooks.webhook_deliveries_due()  # its lease still runs
    with time_machine.travel(timezone.now() + webhooks.LEASE + timedelta(seconds=1)):
        assert row.pk in webhooks.webhook_deliveries_due()
        webhooks.deliver_all_due()
    row.refresh_from_db()
    assert row.state == "sent" and row.attempts == 2


# --- Who gets what ----------------------------------------------------------------------------


def test_another_authority_client_gets_nothing(client, officer, outsider, staff, hooked, receiver):
    theirs = Receiver()
    try:
        other_client, _ = approved_client(outsider, staff)
        webhooks.webhook_endpoint_set(officer=outsider, client=other_client, url=theirs.url)
        submit_epoc(client, officer)
        webhooks.deliver_all_due()
        assert receiver.posts and not theirs.posts
        assert not WebhookDelivery.objects.filter(endpoint__client=other_client).exists()
    finally:
        theirs.close()


def test_no_event_without_the_read_scope_or_an_active_endpoint(client, officer, staff, receiver):
    submit_only, _ = approved_client(officer, staff, scopes=("submit",))
    webhooks.webhook_endpoint_set(officer=officer, client=submit_only, url=receiver.url)
    switched_off, _ = approved_client(officer, staff, scopes=("read",))
    webhooks.webhook_endpoint_set(officer=officer, client=switched_off, url=receiver.url)
    webhooks.webhook_endpoint_disable(officer=officer, client=switched_off)
    submit_epoc(client, officer)
    webhooks.deliver_all_due()
    assert not WebhookDelivery.objects.exists() and not receiver.posts


def test_revoked_client_pending_delivery_is_cancelled(client, officer, hooked, receiver):
    from requests_app.api import services

    api_client, _, _ = hooked
    submit_epoc(client, officer)
    services.api_client_revoke(user=officer, client=api_client)
    webhooks.deliver_all_due()
    assert not receiver.posts
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"cancelled"}


# --- Addresses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.org/x",  # not https
        "https://127.0.0.1/x",  # loopback
        "https://10.1.2.3/x",  # private
        "https://169.254.169.254/latest",  # link-local (cloud metadata)
        "https://[::1]/x",
        "https://user:pw@93.184.215.14/x",  # credentials in the address
    ],
)
def test_address_refused(url, settings):
    settings.DEBUG = False
    with pytest.raises(ValidationError):
        webhooks.url_check(url)


def test_public_https_address_accepted():
    webhooks.url_check("https://93.184.215.14/hooks")


def test_loopback_http_needs_the_test_setting(settings):
    settings.PORTAL_WEBHOOKS_ALLOW_INSECURE_LOOPBACK = False
    with pytest.raises(ValidationError):
        webhooks.url_check("http://127.0.0.1:8000/x")
    settings.PORTAL_WEBHOOKS_ALLOW_INSECURE_LOOPBACK = True
    webhooks.url_check("http://127.0.0.1:8000/x")
    with pytest.raises(ValidationError):  # still only loopback
        webhooks.url_check("http://93.184.215.14/x")


# --- The owner's page -------------------------------------------------------------------------


def test_owner_registers_the_webhook_and_sees_the_secret_once(
    client, officer, staff, loopback_allowed
):
    api_client, _ = approved_client(officer, staff)
    verified_login(client, officer)
    page_url = reverse("api_clients:detail", args=[api_client.public_id])
    refused = client.post(
        page_url,
        {
            "url": "http://hooks.example.org/",
            "otp_token": current_code(officer.totpdevice_set.get()),
        },
    )
    assert refused.status_code == 200 and refused.context["form"].errors["url"]
    assert not WebhookEndpoint.objects.exists()
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):  # a fresh code
        page = client.post(
            page_url,
            {
                "url": "http://127.0.0.1:8999/in",
                "otp_token": current_code(officer.totpdevice_set.get()),
            },
        )
    secret = page.context["secret"]
    assert secret.startswith("whsec_") and secret in page.content.decode()
    assert WebhookEndpoint.objects.get().secret == secret
    assert secret not in client.get(page_url).content.decode()
    with time_machine.travel(timezone.now() + timedelta(seconds=62)):
        rotated = client.post(
            reverse("api_clients:webhook_rotate", args=[api_client.public_id]),
            {"rotate-otp_token": current_code(officer.totpdevice_set.get())},
        )
    new = rotated.context["secret"]
    assert new.startswith("whsec_") and new != secret
    assert WebhookEndpoint.objects.get().previous_secret == secret


def test_a_code_is_needed_to_register(client, officer, staff, loopback_allowed):
    api_client, _ = approved_client(officer, staff)
    verified_login(client, officer)
    page = client.post(
        reverse("api_clients:detail", args=[api_client.public_id]),
        {"url": "http://127.0.0.1:8999/in", "otp_token": "000000"},
    )
    assert page.context["form"].errors["otp_token"]
    assert not WebhookEndpoint.objects.exists()


def test_page_shows_the_attempts_to_the_owner_only(client, officer, colleague, hooked, receiver):
    api_client, _, _ = hooked
    receiver.statuses = [503]
    submit_epoc(client, officer)
    webhooks.deliver_all_due()
    page = client.get(reverse("api_clients:detail", args=[api_client.public_id]))
    text = page.content.decode()
    delivery = WebhookDelivery.objects.order_by("pk").first()
    assert delivery.webhook_id in text
    assert "HTTP 503" in text and "HTTP 200" in text
    assert "request.submitted" in text
    verified_login(client, colleague)
    assert client.get(reverse("api_clients:detail", args=[api_client.public_id])).status_code == 404


def test_address_is_checked_again_before_each_post(client, officer, hooked, receiver, settings):
    # Registered while loopback was allowed; no longer: the post is refused, not made.
    submit_epoc(client, officer)
    settings.PORTAL_WEBHOOKS_ALLOW_INSECURE_LOOPBACK = False
    webhooks.deliver_all_due()
    assert not receiver.posts
    attempt = WebhookAttempt.objects.first()
    assert attempt.status_code is None and "https://" in attempt.error


def self_signed_for_loopback(directory):
    """A certificate for 127.0.0.1 (its own issuer) and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_https_post_checks_the_certificate(client, officer, staff, settings, tmp_path, monkeypatch):
    cert_file, key_file = self_signed_for_loopback(tmp_path)
    receiver = Receiver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    url = receiver.url.replace("http://", "https://")
    try:
        settings.DEBUG = True  # a loopback address over HTTPS, as in development
        api_client, _ = approved_client(officer, staff)
        _, secret = webhooks.webhook_endpoint_set(officer=officer, client=api_client, url=url)
        submit_epoc(client, officer)
        # A certificate nobody vouches for: refused, retried later.
        assert webhooks.deliver_all_due() == 0
        assert "CERTIFICATE_VERIFY_FAILED" in WebhookAttempt.objects.first().error
        # Trusted (the system's trust store, pointed at it): delivered, signed.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
        with time_machine.travel(timezone.now() + timedelta(minutes=1)):
            assert webhooks.deliver_all_due() >= 1
            headers, body = receiver.posts[0]
            assert Webhook(secret).verify(body, headers_of(receiver.posts[0]))
    finally:
        receiver.close()


def test_finished_deliveries_are_purged_after_the_retention(client, officer, hooked, receiver):
    submit_epoc(client, officer)
    webhooks.deliver_all_due()
    count = WebhookDelivery.objects.count()
    assert tasks.purge_webhook_deliveries() == 0
    later = timezone.now() + timedelta(days=django_settings.PORTAL_WEBHOOK_RETENTION_DAYS + 1)
    with time_machine.travel(later):
        assert tasks.purge_webhook_deliveries() >= count  # the rows and their attempts
    assert not WebhookDelivery.objects.exists() and not WebhookAttempt.objects.exists()


def test_a_revoked_client_gets_no_webhook(officer, staff, loopback_allowed):
    from requests_app.api import services

    api_client, _ = approved_client(officer, staff)
    services.api_client_revoke(user=officer, client=api_client)
    with pytest.raises(ValidationError):
        webhooks.webhook_endpoint_set(
            officer=officer, client=api_client, url="http://127.0.0.1:8999/in"
        )
