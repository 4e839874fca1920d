"""Building blocks for request tests: valid form data per instrument, a real PDF, submission
through the pages."""

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pikepdf
import time_machine
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from authorities.constants import Instrument
from requests_app.models import LegalRequest, Status
from requests_app.notifications import deliver_all_due
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
        deliver_all_due()  # the acknowledgments
    mail.outbox.clear()
    return list(LegalRequest.objects.exclude(status=Status.DRAFT).order_by("pk"))
