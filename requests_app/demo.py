"""Demo requests for `make run`, submitted through the real services, so the review queue and the
officer's list have something to show. Development only."""

import io

import pikepdf
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.utils import override_settings

from authorities.models import User

from . import services, trust
from .identifiers import parse_targets
from .instruments import rule_for
from .uploads import check_upload

DEMO_REQUESTS = [
    (
        "marie.durand@interieur.gouv.fr",
        "tco_removal",
        {
            "case_reference": "OFAC-2026-1187",
            "legal_basis": "Regulation (EU) 2021/784, Art. 3; Code pénal art. 421-2-5",
            "statement_of_reasons": "Video glorifying the attack of 12 November, posted today.",
            "language": "fr",
        },
        "https://platform.example/v/55501",
    ),
    (
        "jonas.weber@bka.bund.de",
        "emergency_disclosure",
        {
            "case_reference": "BKA-ST-2026-0931",
            "statement_of_reasons": "The account announced a shooting at a school in Mainz.",
            "emergency_justification": "Imminent threat to the life of pupils; police deployed.",
            "data_categories": ["subscriber", "identification"],
            "language": "de",
        },
        "@mainz.alarm2026",
    ),
    (
        "sanne.devries@om.nl",
        "epoc",
        {
            "case_reference": "OM-2026-44812",
            "legal_basis": "Regulation (EU) 2023/1543, Art. 5; Wetboek van Strafvordering",
            "offence": "Online fraud (Sr. art. 326)",
            "statement_of_reasons": "The seller account collected payments for goods never sent.",
            "data_categories": ["subscriber", "identification"],
            "period_start": "2026-09-01",
            "period_end": "2026-10-31",
            "language": "nl",
        },
        "@bargain.seller.nl\n+31612345678",
    ),
    (
        "marie.durand@interieur.gouv.fr",
        "epoc_pr",
        {
            "case_reference": "OFAC-2026-1203",
            "legal_basis": "Regulation (EU) 2023/1543, Art. 6",
            "offence": "Harassment (Code pénal art. 222-33-2-2)",
            "statement_of_reasons": "Preserve the account data pending a production order.",
            "data_categories": ["subscriber", "traffic"],
            "period_start": "2026-10-01",
            "period_end": "2026-11-20",
            "validating_authority": "Parquet de Paris, section J3",
            "language": "fr",
        },
        "@harasser.account",
    ),
]


def _demo_pdf(title: str) -> SimpleUploadedFile:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Title"] = title
    out = io.BytesIO()
    pdf.save(out)
    return SimpleUploadedFile(f"{title}.pdf", out.getvalue(), "application/pdf")


def load_demo_requests() -> int:
    created = 0
    for email, instrument, data, targets in DEMO_REQUESTS:
        officer = User.objects.get(email=email)
        if officer.legal_requests.filter(instrument=instrument).exists():
            continue
        rule = rule_for(instrument)
        draft = services.legal_request_save_draft(
            officer=officer,
            instrument=instrument,
            data=data,
            targets=parse_targets(targets, rule.target_kinds),
        )
        upload = _demo_pdf(f"signed-order-{data['case_reference']}")
        services.attachment_add(
            legal_request=draft,
            user=officer,
            uploaded=upload,
            checked=check_upload(upload, anchors=trust.anchors_file()),
        )
        # Seeded as if submitted from a passkey-verified session: a command has no browser to
        # hold a passkey, and the demo shows an emergency request in the queue.
        with override_settings(PORTAL_PHISHING_RESISTANT_FOR=frozenset()):
            services.legal_request_submit(officer=officer, legal_request=draft, ip="127.0.0.1")
        created += 1
    return created
