"""The sealed receipt of a submitted request (issue 18): owed at submission, sealed by a worker
after commit (the sweep hands out any still owed), checked here as an authority would, with
pyHanko's validator trusting the platform's CA."""

import asyncio
import hashlib
import io
import threading
from datetime import UTC, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from pyhanko.sign.timestamps import DummyTimeStamper

from authorities.constants import Instrument
from requests_app import checks, seal
from requests_app.models import AccessLog, LegalRequest, Receipt
from requests_app.receipts import receipts_issue_all_due
from tests.conftest import verified_login
from tests.requests_app.helpers import (
    certificate,
    delivered_emails,
    pdf_bytes,
    pdf_upload,
    seal_validation,
    submit,
)

pytestmark = pytest.mark.django_db


def _submitted(client, officer) -> LegalRequest:
    """Submitted through the pages, its receipt then sealed as the worker seals it."""
    verified_login(client, officer)
    assert submit(client, Instrument.EPOC).status_code == 302
    assert receipts_issue_all_due() == 1
    return LegalRequest.objects.get()


def test_submission_stores_a_sealed_receipt_intact_and_trusted(client, officer, platform_ca):
    legal_request = _submitted(client, officer)

    receipt = legal_request.receipt
    pdf = receipt.file.read()
    assert receipt.sha256 == hashlib.sha256(pdf).hexdigest()
    assert receipt.size == len(pdf)
    assert receipt.seal_subject == "CN=Portal seal"
    assert not receipt.timestamped  # no PORTAL_TSA_URL: PAdES B-B
    status = seal_validation(pdf, platform_ca)
    assert status.intact and status.valid and status.trusted
    assert status.bottom_line
    # The whole file is covered: nothing appended after sealing.
    assert status.coverage.name == "ENTIRE_FILE"


def test_a_pdf_is_sealed_from_inside_a_running_event_loop(platform_ca):
    """pyHanko's sign_pdf() calls asyncio.run(): inside a running loop (an ASGI server's thread,
    the browser tests' Playwright) it refused, and a submission was a 500."""

    async def submission_inside_a_loop() -> seal.Sealed:
        return seal.seal_pdf(pdf_bytes(), reason="Receipt of LR-2026-000001")

    sealed = asyncio.run(submission_inside_a_loop())

    status = seal_validation(sealed.pdf, platform_ca)
    assert status.intact and status.valid and status.trusted


def test_a_seal_too_large_for_the_reserved_room_is_signed_the_measured_way(
    platform_ca, monkeypatch
):
    """The room reserved for the signature saves pyHanko's measuring pass; a seal whose chain
    does not fit in it (a long qualified chain) is still sealed, measured."""
    monkeypatch.setattr(seal, "RESERVED_HEX_DIGITS", 64)

    sealed = seal.seal_pdf(pdf_bytes(), reason="Receipt of LR-2026-000001")

    status = seal_validation(sealed.pdf, platform_ca)
    assert status.intact and status.valid and status.trusted


def test_one_changed_byte_breaks_the_seal(client, officer, platform_ca):
    legal_request = _submitted(client, officer)
    pdf = bytearray(legal_request.receipt.file.read())
    at = pdf.index(legal_request.reference.encode())
    pdf[at + len("LR-")] = ord("9") if pdf[at + len("LR-")] != ord("9") else ord("8")

    try:
        status = seal_validation(bytes(pdf), platform_ca)
    except Exception:  # noqa: S110 (a validator that refuses the file is a broken seal too)
        return
    assert not status.intact
    assert not status.bottom_line


def test_a_receipt_sealed_by_another_ca_is_not_trusted(client, officer, platform_ca):
    """The authority trusts the platform's CA, not whoever made a well-formed seal."""
    legal_request = _submitted(client, officer)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Someone else")])
    other = certificate("Someone else", other_key, other_name, other_key, ca=True)

    status = seal_validation(
        legal_request.receipt.file.read(),
        asn1_x509.Certificate.load(other.public_bytes(serialization.Encoding.DER)),
    )
    assert status.intact and not status.trusted


def test_receipt_names_the_request_its_documents_times_and_deadlines(client, officer):
    officer.time_zone = "Europe/Paris"
    officer.preferred_language = "en"
    officer.save(update_fields=["time_zone", "preferred_language"])
    verified_login(client, officer)
    order = pdf_bytes(pages=2)
    assert submit(client, Instrument.EPOC, documents=[pdf_upload("order.pdf", order)]).status_code
    receipts_issue_all_due()
    legal_request = LegalRequest.objects.get()
    # The content stream is not compressed: the receipt's text is in the file as written, its
    # parentheses escaped (PDF string syntax).
    pdf = legal_request.receipt.file.read().replace(b"\\(", b"(").replace(b"\\)", b")")

    received = legal_request.received_at
    for text in (
        f"Reference: {legal_request.reference}",
        "Instrument: European Production Order",
        legal_request.authority.name_en,
        officer.email,
        f"Received (UTC): {received.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
        "Received (Europe/Paris): ",
        hashlib.sha256(order).hexdigest(),
        "Internal target: ",
        "Legal time limit: ",
        "DEMO SEAL",  # the suite's seal is a demo one (tests/settings.py)
    ):
        assert text.encode() in pdf, text


@pytest.fixture
def time_stamping_authority(settings, platform_ca_keys):
    """An RFC 3161 time-stamping authority on loopback (pyHanko's DummyTimeStamper behind a
    plain HTTP server), its certificate issued by the test CA; PORTAL_TSA_URL names it."""
    ca, ca_key = platform_ca_keys
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa_certificate = certificate(
        "Test TSA", tsa_key, ca.subject, ca_key, ca=False, time_stamping=True
    )
    stamper = DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(
            tsa_certificate.public_bytes(serialization.Encoding.DER)
        ),
        tsa_key=keys.PrivateKeyInfo.load(
            tsa_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
    )

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            request = tsp.TimeStampReq.load(self.rfile.read(int(self.headers["Content-Length"])))
            body = stamper.request_tsa_response(request).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.PORTAL_TSA_URL = f"http://127.0.0.1:{server.server_address[1]}/tsa"
    yield
    server.shutdown()
    server.server_close()


def test_with_a_time_stamping_authority_the_receipt_is_time_stamped(
    client, officer, platform_ca, time_stamping_authority
):
    """PAdES B-T: the time of sealing is attested by the TSA, not only claimed by the portal."""
    legal_request = _submitted(client, officer)

    assert legal_request.receipt.timestamped
    status = seal_validation(legal_request.receipt.file.read(), platform_ca)
    assert status.bottom_line
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact and status.timestamp_validity.trusted
    assert abs(status.timestamp_validity.timestamp - legal_request.received_at) < timedelta(
        minutes=1
    )


def test_receipt_with_an_unreachable_time_stamping_authority_is_still_sealed(
    client, officer, platform_ca, settings
):
    """A TSA that does not answer never blocks a submission: the receipt is B-B, said so."""
    settings.PORTAL_TSA_URL = "http://127.0.0.1:9/tsa"  # discard port: nothing answers
    legal_request = _submitted(client, officer)

    assert not legal_request.receipt.timestamped
    assert seal_validation(legal_request.receipt.file.read(), platform_ca).bottom_line


def test_officer_downloads_the_receipt_from_the_request_page_and_it_is_audited(client, officer):
    legal_request = _submitted(client, officer)
    url = reverse("requests:receipt", args=[legal_request.public_id])
    page = client.get(reverse("requests:detail", args=[legal_request.public_id])).content.decode()
    assert url in page
    assert legal_request.receipt.sha256 in page

    response = client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f"receipt-{legal_request.reference}.pdf" in response["Content-Disposition"]
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == legal_request.receipt.sha256
    log = AccessLog.objects.filter(action=AccessLog.Action.OPEN_ATTACHMENT).get()
    assert (log.user, log.request) == (officer, legal_request)
    assert log.object_ref.startswith(f"receipt-{legal_request.reference}.pdf")


def test_another_authoritys_officer_gets_404_for_the_receipt(client, officer, outsider):
    legal_request = _submitted(client, officer)
    verified_login(client, outsider)

    response = client.get(reverse("requests:receipt", args=[legal_request.public_id]))

    assert response.status_code == 404
    assert not AccessLog.objects.filter(user=outsider).exists()


def test_a_draft_has_no_receipt(client, officer):
    verified_login(client, officer)
    submit(client, Instrument.EPOC, action="save")
    draft = LegalRequest.objects.get()

    assert not Receipt.objects.exists()
    assert client.get(reverse("requests:receipt", args=[draft.public_id])).status_code == 404


def test_acknowledgment_names_the_receipt_without_carrying_it(client, officer):
    legal_request = _submitted(client, officer)

    [ack] = [m for m in delivered_emails(mail.outbox) if m.to == [officer.email]]

    receipt_url = reverse("requests:receipt", args=[legal_request.public_id])
    for part in (ack.body, ack.alternatives[0][0]):
        assert legal_request.receipt.sha256 in part
        assert receipt_url in part
    assert ack.attachments == []
    assert "%PDF" not in ack.body


def test_portal_refuses_to_start_without_a_usable_seal(settings, tmp_path):
    settings.DEBUG = False
    settings.PORTAL_SEAL_P12 = ""
    assert [m.id for m in checks.check_seal()] == [checks.NO_SEAL]

    settings.PORTAL_SEAL_P12 = str(tmp_path / "missing.p12")
    assert [m.id for m in checks.check_seal()] == [checks.NO_SEAL]

    seal.demo_seal_write(tmp_path / "seal.p12", passphrase="right")
    settings.PORTAL_SEAL_P12 = str(tmp_path / "seal.p12")
    settings.PORTAL_SEAL_PASSPHRASE = "wrong"
    [problem] = checks.check_seal()
    assert problem.id == checks.NO_SEAL and "PORTAL_SEAL_PASSPHRASE" in problem.msg

    settings.PORTAL_SEAL_PASSPHRASE = "right"
    assert checks.check_seal() == []


def test_make_demo_seal_writes_a_self_signed_demo_seal_once(settings, tmp_path):
    settings.PORTAL_SEAL_P12 = str(tmp_path / "demo-seal.p12")
    settings.PORTAL_SEAL_PASSPHRASE = "demo"

    call_command("make_demo_seal", stdout=io.StringIO())
    first = (tmp_path / "demo-seal.p12").read_bytes()
    call_command("make_demo_seal", stdout=io.StringIO())

    assert (tmp_path / "demo-seal.p12").read_bytes() == first  # never replaced silently
    info = seal.seal_info()
    assert info.is_demo and "DEMO" in info.subject


def test_seal_certificate_prints_the_certificates_an_authority_trusts(platform_ca):
    out = io.StringIO()
    call_command("seal_certificate", stdout=out)

    pem = out.getvalue().encode()
    certificates = x509.load_pem_x509_certificates(pem)
    assert [c.subject.rfc4514_string() for c in certificates] == [
        "CN=Portal seal",
        "CN=Test platform CA",
    ]
