"""Signed orders in a real browser (issue 18): an officer submits an order signed by each kind of
signer of the tests' CA (a qualified CA of an imported trusted list) through the request form; a
reviewer opens each request and reads the verdict in the review page's signature panel and risk
signals. A screenshot of each review page goes to docs/screenshots/signature-<kind>.png."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command

from requests_app.models import LegalRequest
from tests.browser.conftest import screenshot
from tests.browser.test_journeys import cast, log_in  # noqa: F401 - cast is a fixture
from tests.requests_app.signing import (
    CA_QC,
    GRANTED,
    make_ca,
    make_signer,
    signed_orders,
    trusted_list_xml,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# What the panel and the risk signals say of each, beside "the signer belongs to this authority."
# or "does NOT belong" (its last words).
EXPECTED = {
    "qualified.pdf": (
        "Signed by Jeanne Martin — Office anti-cybercriminalité, LEGFR-0042 "
        "(qualified, intact, time-stamped ",
        "belongs to this authority.",
        [],
    ),
    "not-qualified.pdf": (
        "Signed by Paul Durand — Office anti-cybercriminalité, LEGFR-0042 "
        "(not qualified, intact, signing time ",
        "belongs to this authority.",
        ["The signature on not-qualified.pdf is not a qualified one."],
    ),
    "expired.pdf": (
        "Signed by Luc Bernard — Office anti-cybercriminalité, LEGFR-0042 (not qualified, intact",
        "belongs to this authority.",
        ["Expired signature on expired.pdf: the certificate was not valid when it signed."],
    ),
    "other-organisation.pdf": (
        "Signed by Marc Dupont — Cabinet Dupont (qualified, intact",
        "the signer does NOT belong to this authority.",
        ["other-organisation.pdf is signed by another organisation (Cabinet Dupont)"],
    ),
    "changed.pdf": (
        "Signed by Jeanne Martin — Office anti-cybercriminalité, LEGFR-0042 "
        "(qualified, CHANGED after signing, time-stamped ",
        "belongs to this authority.",
        ["changed.pdf was changed after it was signed."],
    ),
}


def submit_signed_epoc(page, portal: str, pdf, reference: str) -> None:
    page.goto(portal + "/requests/new/epoc/")
    page.fill("input[name=case_reference]", reference)
    page.fill("input[name=legal_basis]", "Regulation (EU) 2023/1543, Art. 5")
    page.fill("input[name=offence]", "Fraud (Code pénal art. 313-1)")
    page.fill("textarea[name=targets]", "@fraud.account")
    page.check("input[name=data_categories][value=subscriber]")
    page.fill("input[name=period_start]", "2026-11-01")
    page.fill("input[name=period_end]", "2026-11-26")
    page.fill("textarea[name=statement_of_reasons]", "The account collects the victims' money.")
    page.set_input_files("input[name=documents]", str(pdf))
    page.click("button[value=submit]")
    page.wait_for_load_state()
    assert "received on" in page.content(), page.inner_text("main")[:3000]


def test_reviewer_reads_the_verdict_of_each_signed_order(
    portal,
    page_factory,
    cast,  # noqa: F811
    tmp_path,
):
    ca = make_ca("Test national CA")
    tsa = make_signer(ca, name="Test TSA", organisation="Test TSA", time_stamping=True)
    trusted_list = tmp_path / "FR-TL.xml"
    trusted_list.write_bytes(trusted_list_xml([(ca, CA_QC, GRANTED)]))
    call_command("import_trust_list", str(trusted_list))
    authority = cast["authority"]
    authority.signing_identifiers = ["LEGFR-0042"]
    authority.save()
    # pyHanko signs with asyncio.run, which cannot run in this thread: Playwright's event loop
    # runs here.
    with ThreadPoolExecutor(max_workers=1) as thread:
        documents = thread.submit(
            signed_orders, ca, tsa, organisation=authority.name, organisation_id="LEGFR-0042"
        ).result()

    officer = page_factory()
    log_in(officer, portal, cast["officer"])
    for n, (name, (_, content)) in enumerate(documents.items()):
        pdf = tmp_path / name
        pdf.write_bytes(content)
        submit_signed_epoc(officer, portal, pdf, f"OFAC-2026-SIG{n}")

    reviewer = page_factory()
    log_in(reviewer, portal, cast["reviewer"], ahead=1)
    for n, name in enumerate(documents):
        legal_request = LegalRequest.objects.get(case_reference=f"OFAC-2026-SIG{n}")
        reviewer.goto(f"{portal}/review/{legal_request.public_id}/")
        panel = " ".join(reviewer.inner_text("#signatures").split())
        signals = " ".join(reviewer.inner_text("#risk-at-submission").split())
        words, belonging, risks = EXPECTED[name]
        assert f"{name}:" in panel
        assert words in panel, panel
        assert panel.endswith(belonging), panel
        for risk in risks:
            assert risk in signals, signals
        if not risks:
            assert name not in signals, signals
        screenshot(reviewer, f"signature-{name.removesuffix('.pdf')}")
