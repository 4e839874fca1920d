"""Building blocks for request tests: valid form data per instrument, a real PDF, submission
through the pages."""

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pikepdf
import time_machine
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from authorities.constants import Instrument
from requests_app.models import LegalRequest, Status
from requests_app.notifications import deliver_all_due
from requests_app.receipts import receipts_issue_all_due
from tests.conftest import verified_login


def pdf_bytes(pages: int = 1) -> bytes:
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page()
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def pdf_upload(name: str = "order.pdf", content: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(
        name, content if content is not None else pdf_bytes(), "application/pdf"
    )


COMMON = {
    "case_reference": "PARQUET-2026-0042",
    "legal_basis": "Code de procédure pénale, art. 60-1; Regulation (EU) 2023/1543",
    "statement_of_reasons": "The account is used to coordinate the offence under investigation.",
    "language": "fr",
}

VALID = {
    Instrument.EPOC: {
        **COMMON,
        "offence": "Fraud (Code pénal art. 313-1)",
        "targets": "@jane.doe\n+33 6 12 34 56 78",
        "data_categories": ["subscriber", "identification"],
        "period_start": "2026-09-01",
        "period_end": "2026-10-31",
    },
    Instrument.EPOC_PR: {
        **COMMON,
        "offence": "Fraud (Code pénal art. 313-1)",
        "targets": "@jane.doe",
        "data_categories": ["subscriber", "traffic"],
        "threshold_met": "on",
        "period_start": "2026-09-01",
        "period_end": "2026-10-31",
    },
    Instrument.TCO_REMOVAL: {
        **COMMON,
        "targets": "https://platform.example/p/123456",
    },
    Instrument.DSA_ART9: {
        **COMMON,
        "targets": "https://platform.example/p/98765\n@seller.one",
        "redress_information": "The provider may appeal before the tribunal administratif.",
        "territorial_scope": "France",
    },
    Instrument.DSA_ART10: {
        **COMMON,
        "targets": "@seller.one",
        "redress_information": "The provider may appeal before the tribunal administratif.",
    },
    Instrument.EMERGENCY_DISCLOSURE: {
        "case_reference": "URG-2026-7",
        "statement_of_reasons": "A user announced an attack on a school for tomorrow morning.",
        "emergency_justification": "Imminent threat to the life of pupils and staff.",
        "targets": "@threat.account",
        "data_categories": ["subscriber", "identification"],
        "language": "en",
    },
    Instrument.INQUIRY: {
        "statement_of_reasons": "Which data categories do you keep for deleted accounts?",
        "language": "en",
    },
}


def submit(client, instrument: str, data: dict | None = None, documents=None, action="submit"):
    payload = dict(VALID[instrument] if data is None else data)
    payload["action"] = action
    if documents is None:
        documents = [pdf_upload()]
    if documents:
        payload["documents"] = documents
    return client.post(reverse("requests:create", args=[instrument]), payload)


def delivered_emails(mailbox) -> list:
    """What the workers would have sent by now: the receipts owed sealed first (each queues
    its acknowledgment), then every e-mail due."""
    receipts_issue_all_due()
    deliver_all_due()
    return list(mailbox)


# Alert tests: requests submitted at START; HALF_TIME is the 50 % alert of a 10-day EPOC.
START = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("UTC"))
HALF_TIME = START + timedelta(days=5)


def submitted(client, officer, count: int) -> list[LegalRequest]:
    """`count` EPOCs submitted through the pages at START, their acknowledgments sent."""
    with time_machine.travel(START, tick=False):
        verified_login(client, officer)
        for _ in range(count):
            assert submit(client, Instrument.EPOC, VALID[Instrument.EPOC]).status_code == 302
        receipts_issue_all_due()
        deliver_all_due()  # the acknowledgments, which follow the receipts
    mail.outbox.clear()
    return list(LegalRequest.objects.exclude(status=Status.DRAFT).order_by("pk"))


# Sealed PDFs (receipts, notices, manifests): certificates of the tests' own, and the check an
# authority makes (docs/receipts.md).


def certificate(
    subject: str, key, issuer: x509.Name, issuer_key, *, ca: bool, time_stamping: bool = False
):
    now = datetime.now(UTC)
    usage = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    usage.update(
        {"key_cert_sign": True, "crl_sign": True}
        if ca
        else {"digital_signature": True, "content_commitment": True}
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.KeyUsage(**usage), critical=True)
    )
    if time_stamping:  # RFC 3161 2.3: a TSA's certificate has only this purpose, critical
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return builder.sign(issuer_key, hashes.SHA256())


def seal_validation(pdf: bytes, ca):
    """pyHanko's verdict on a sealed PDF's one signature, trusting only `ca`."""
    reader = PdfFileReader(io.BytesIO(pdf))
    [signature] = reader.embedded_signatures
    return validate_pdf_signature(signature, ValidationContext(trust_roots=[ca]))


def pdf_text(pdf: bytes) -> str:
    """The text a sealed PDF shows, read back with pikepdf (each Tj string of each page), its
    lines joined by spaces: a sentence the PDF wraps over two lines is found whole."""
    with pikepdf.open(io.BytesIO(pdf)) as document:
        return " ".join(
            bytes(operands[0]).decode("cp1252")
            for page in document.pages
            for operands, operator in pikepdf.parse_content_stream(page)
            if str(operator) == "Tj"
        )
