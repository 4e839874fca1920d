"""Signed orders (issue 18): the sandboxed checker verifies each uploaded PDF's signatures
against the configured trust anchors and the imported EU trusted list; the facts are stored
per document, told to the reviewer in words, raised as risk signals, and, for the instruments
of PORTAL_SIGNATURE_REQUIRED_INSTRUMENTS, required at submission."""

import hashlib
import html
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from authorities import registry_import
from authorities.admin import AuthorityForm
from authorities.constants import Instrument
from requests_app import checks, risk, trust
from requests_app.models import Attachment, LegalRequest, QualifiedCA, TrustedList
from requests_app.uploads import check_upload, spawn_checker
from tests.conftest import verified_login
from tests.figures import record as record_figure
from tests.requests_app.helpers import pdf_bytes, pdf_upload, submit
from tests.requests_app.signing import (
    CA_QC,
    GRANTED,
    TSA_QTST,
    WITHDRAWN,
    changed_after_signing,
    make_ca,
    make_signer,
    sign_pdf,
    signed_orders,
    trusted_list_xml,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def ca():
    return make_ca("Test national CA")


@pytest.fixture(scope="module")
def tsa(ca):
    return make_signer(ca, name="Test TSA", organisation="Test TSA", time_stamping=True)


@pytest.fixture
def trusted_ca(ca, settings, tmp_path):
    """The test CA configured as a PEM trust anchor (trusted, not qualified)."""
    path = tmp_path / "anchors.pem"
    path.write_bytes(ca.pem)
    settings.PORTAL_SIGNATURE_TRUST_ANCHORS = [str(path)]
    return ca


def signed_by(ca, **signer) -> bytes:
    return sign_pdf(pdf_bytes(), make_signer(ca, **signer), ca)


def check(content: bytes) -> list[dict]:
    return check_upload(
        SimpleUploadedFile("order.pdf", content), anchors=trust.anchors_file()
    ).signatures


def import_list(tmp_path, content: bytes, name: str = "FR-TL.xml") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    call_command("import_trust_list", str(path))
    return str(path)


# --- The checker's outcome ---------------------------------------------------------------------


def test_checker_reports_an_intact_trusted_signature_with_signer_organisation_and_issuer(
    trusted_ca,
):
    [signature] = check(signed_by(trusted_ca, organisation_id="LEGFR-0042"))

    assert signature["intact"] and signature["trusted"]
    assert signature["certificate_valid_at_signing"] and not signature["expired"]
    assert not signature["changed_after_signing"]
    assert signature["coverage"] == "ENTIRE_FILE"
    assert signature["signer_name"] == "Jeanne Martin"
    assert signature["organisation"] == "Parquet de Paris"
    assert signature["organisation_identifier"] == "LEGFR-0042"
    assert "Test national CA" in signature["issuer"]
    # No time-stamp: the time is the signer's software's word only.
    assert signature["time_source"] == "claimed"
    assert signature["signing_time"]
    # A PEM anchor is trusted; qualified is only what an EU trusted list says.
    assert not signature["qualified"]
    assert "PORTAL_SIGNATURE_TRUST_ANCHORS" in signature["anchor_source"]


def test_checker_takes_the_signing_time_from_a_time_stamp_token(trusted_ca, tsa):
    content = sign_pdf(pdf_bytes(), make_signer(trusted_ca), trusted_ca, timestamp_by=tsa)

    [signature] = check(content)

    assert signature["time_source"] == "timestamp"
    when = datetime.fromisoformat(signature["signing_time"])
    assert abs(when - datetime.now(UTC)) < timedelta(minutes=5)
    assert signature["intact"] and signature["trusted"]


def test_checker_sees_a_document_changed_after_signing(trusted_ca):
    [signature] = check(changed_after_signing(signed_by(trusted_ca)))

    assert signature["intact"]  # the signed revision is what was signed...
    assert signature["changed_after_signing"]  # ...but a later update draws on the page
    assert signature["modification_level"] == "OTHER"
    assert signature["docmdp_ok"] is False


def test_checker_sees_an_expired_certificate_and_a_time_stamp_from_when_it_was_valid(
    trusted_ca, tsa
):
    now = datetime.now(UTC)
    expired = make_signer(
        trusted_ca, valid_from=now - timedelta(days=400), valid_until=now - timedelta(days=30)
    )
    [late] = check(sign_pdf(pdf_bytes(), expired, trusted_ca))
    [in_time] = check(
        sign_pdf(pdf_bytes(), expired, trusted_ca, timestamp_by=tsa, at=now - timedelta(days=60))
    )

    assert late["expired"] and not late["certificate_valid_at_signing"] and not late["trusted"]
    assert in_time["time_source"] == "timestamp"
    assert in_time["certificate_valid_at_signing"] and not in_time["expired"]


def test_checker_does_not_trust_a_ca_that_is_not_an_anchor(trusted_ca):
    stranger = make_ca("Self-made CA")

    [signature] = check(signed_by(stranger))

    assert signature["intact"]
    assert not signature["trusted"] and not signature["qualified"]
    assert signature["trust_problem"] == "NO_CERTIFICATE_CHAIN_FOUND"
    assert "Self-made CA" in signature["issuer"]


def test_checker_reports_qualified_for_a_qualified_certificate_of_a_listed_ca(ca, tmp_path):
    import_list(tmp_path, trusted_list_xml([(ca, CA_QC, GRANTED)]))

    [qualified] = check(signed_by(ca, qualified=True))
    [plain] = check(signed_by(ca))  # the same CA, a certificate that does not claim QC

    assert qualified["trusted"] and qualified["qualified"]
    assert "FR trusted list #42" in qualified["anchor_source"]
    assert plain["trusted"] and not plain["qualified"]


def test_an_unsigned_pdf_has_no_signature_and_costs_no_signature_work():
    assert check(pdf_bytes()) == []


# --- The trusted list --------------------------------------------------------------------------


def test_import_trust_list_stores_granted_qualified_cas_with_the_lists_provenance(ca, tmp_path):
    withdrawn = make_ca("Withdrawn CA")
    timestamping = make_ca("Time-stamping service")
    content = trusted_list_xml(
        [(ca, CA_QC, GRANTED), (withdrawn, CA_QC, WITHDRAWN), (timestamping, TSA_QTST, GRANTED)]
    )

    import_list(tmp_path, content)

    listed = TrustedList.objects.get()
    assert (listed.territory, listed.sequence_number) == ("FR", 42)
    assert listed.issued_at == datetime(2026, 10, 1, tzinfo=UTC)
    assert listed.file_name == "FR-TL.xml"
    assert listed.sha256 == hashlib.sha256(content).hexdigest()
    [qualified] = QualifiedCA.objects.all()
    assert "Test national CA" in qualified.subject
    assert qualified.provider == "Test QTSP"


def test_a_newer_list_replaces_the_territorys_list_and_an_older_one_is_refused(ca, tmp_path):
    import_list(tmp_path, trusted_list_xml([(ca, CA_QC, GRANTED)], sequence=42))
    import_list(tmp_path, trusted_list_xml([], sequence=43), "newer.xml")

    assert TrustedList.objects.get(in_force=True).sequence_number == 43
    assert not QualifiedCA.objects.filter(trusted_list__in_force=True).exists()
    with pytest.raises(CommandError, match="older than the list in force"):
        import_list(tmp_path, trusted_list_xml([(ca, CA_QC, GRANTED)], sequence=41), "old.xml")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"<tsl:TrustServiceStatusList", "not well-formed XML"),
        (b"<?xml version='1.0'?><html/>", "not an ETSI TS 119 612"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<x>&e;</x>",
            "DOCTYPE",
        ),
    ],
)
def test_import_trust_list_refuses_a_malformed_file_with_a_clear_error(tmp_path, content, reason):
    with pytest.raises(CommandError, match=reason) as refused:
        import_list(tmp_path, content, "bad.xml")

    assert "nothing was imported" in str(refused.value)
    assert not TrustedList.objects.exists()


# --- Stored, shown, signalled, required ---------------------------------------------------------


def submit_order(client, officer, content: bytes, instrument=Instrument.EPOC):
    verified_login(client, officer)
    return submit(client, instrument, documents=[pdf_upload("order.pdf", content)])


def review_page(client, reviewer, legal_request) -> str:
    verified_login(client, reviewer)
    response = client.get(reverse("review:detail", args=[legal_request.public_id]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def codes(legal_request) -> list[str]:
    return [item["code"] for item in legal_request.risk_snapshot["signals"]]


def test_qualified_timestamped_signature_of_the_authority_is_stored_and_told_in_words(
    client, officer, reviewer, authority, ca, tsa, tmp_path
):
    import_list(tmp_path, trusted_list_xml([(ca, CA_QC, GRANTED)]))
    authority.signing_identifiers = ["LEGFR-0042"]
    authority.save()
    signer = make_signer(ca, organisation="Parquet", organisation_id="LEGFR-0042", qualified=True)
    content = sign_pdf(pdf_bytes(), signer, ca, timestamp_by=tsa)

    assert submit_order(client, officer, content).status_code == 302

    legal_request = LegalRequest.objects.get()
    [stored] = Attachment.objects.get(request=legal_request).signatures
    assert stored["qualified"] and stored["intact"] and stored["time_source"] == "timestamp"
    page = review_page(client, reviewer, legal_request)
    assert "Signed by Jeanne Martin — Parquet, LEGFR-0042 (qualified, intact, time-stamped " in (
        page
    )
    assert "the signer belongs to this authority." in page
    signature_codes = set(codes(legal_request)) & set(risk.MESSAGES) - {"new_account"}
    assert not {c for c in signature_codes if "sign" in c}


def test_unsigned_order_is_a_risk_signal(client, officer, reviewer):
    assert submit_order(client, officer, pdf_bytes()).status_code == 302

    legal_request = LegalRequest.objects.get()
    assert "order_unsigned" in codes(legal_request)
    page = review_page(client, reviewer, legal_request)
    assert "Unsigned order: no document of the order carries a signature." in page
    assert "Not signed electronically" in page


def test_signature_problems_are_risk_signals_naming_the_document(
    client, officer, reviewer, trusted_ca
):
    other = signed_by(trusted_ca, organisation="Cabinet Dupont")  # not the authority
    assert submit_order(client, officer, changed_after_signing(other)).status_code == 302

    legal_request = LegalRequest.objects.get()
    assert {"signature_changed", "signature_not_qualified", "signer_other_organisation"} <= set(
        codes(legal_request)
    )
    page = review_page(client, reviewer, legal_request)
    assert "order.pdf was changed after it was signed." in page
    assert "order.pdf is signed by another organisation (Cabinet Dupont)" in page
    assert "CHANGED after signing" in page
    assert "the signer does NOT belong to this authority." in page


def test_untrusted_and_expired_signatures_are_risk_signals(client, officer, authority, ca):
    now = datetime.now(UTC)
    expired = make_signer(
        ca,
        organisation=authority.name,
        valid_from=now - timedelta(days=400),
        valid_until=now - timedelta(days=1),
    )
    assert submit_order(client, officer, sign_pdf(pdf_bytes(), expired, ca)).status_code == 302
    stranger = make_ca("Self-made CA")
    assert (
        submit_order(client, officer, signed_by(stranger, organisation=authority.name)).status_code
        == 302
    )

    first, second = LegalRequest.objects.order_by("pk")
    assert "signature_expired" in codes(first)
    assert "signature_untrusted" in codes(second)
    assert "signer_other_organisation" not in codes(second)  # O is the authority's name


def test_required_signature_refuses_an_unsigned_order_naming_the_document(
    client, officer, settings
):
    settings.PORTAL_SIGNATURE_REQUIRED_INSTRUMENTS = [Instrument.EPOC]

    response = submit_order(client, officer, pdf_bytes())

    # Kept as a draft, and its edit page says what stops the submission.
    assert not LegalRequest.objects.exclude(status="draft").exists()
    text = html.unescape(client.get(response.url).content.decode())
    assert "must carry a valid electronic signature of" in text
    assert "order.pdf does not" in text


def test_required_signature_accepts_the_authoritys_valid_signature_and_ignores_others(
    client, officer, authority, settings, trusted_ca
):
    settings.PORTAL_SIGNATURE_REQUIRED_INSTRUMENTS = [Instrument.EPOC]

    submit_order(client, officer, signed_by(trusted_ca, organisation="Cabinet Dupont"))
    assert not LegalRequest.objects.exclude(status="draft").exists()
    submit_order(client, officer, signed_by(trusted_ca, organisation=authority.name_en))
    assert LegalRequest.objects.exclude(status="draft").count() == 1
    # An instrument outside the setting is not asked for a signature.
    submit_order(client, officer, pdf_bytes(), Instrument.TCO_REMOVAL)
    assert LegalRequest.objects.exclude(status="draft").count() == 2


def test_staff_edit_signing_identifiers_one_per_line_in_the_admin_form():
    field = AuthorityForm.base_fields["signing_identifiers"]

    assert field.clean("LEGFR-0042\n\n Parquet de Paris \nLEGFR-0042") == [
        "LEGFR-0042",
        "Parquet de Paris",
    ]
    assert field.prepare_value(["LEGFR-0042", "Parquet de Paris"]) == (
        "LEGFR-0042\nParquet de Paris"
    )
    assert "signing_identifiers" in AuthorityForm._meta.fields


def test_a_typo_in_the_signature_settings_stops_start_up(settings, tmp_path):
    settings.PORTAL_SIGNATURE_REQUIRED_INSTRUMENTS = ["epoc", "epcо"]
    settings.PORTAL_SIGNATURE_TRUST_ANCHORS = [str(tmp_path / "missing.pem")]

    found = {problem.id: problem.msg for problem in checks.check_signature_settings()}

    assert "'epcо'" in found[checks.UNKNOWN_SIGNATURE_INSTRUMENT]
    assert "missing.pem" in found[checks.TRUST_ANCHOR_UNUSABLE]


def test_a_document_uploaded_before_signatures_were_checked_is_not_called_unsigned(
    client, officer, reviewer
):
    assert submit_order(client, officer, pdf_bytes()).status_code == 302
    legal_request = LegalRequest.objects.get()
    Attachment.objects.filter(request=legal_request).update(signatures=None)  # migration 0016

    now = [signal.code for signal in risk.compute_signals(legal_request, now=timezone.now())]
    assert "order_unsigned" not in now
    page = review_page(client, reviewer, legal_request)
    assert "Not checked for signatures (uploaded before signatures were verified)." in page


def test_a_staff_edit_of_the_signing_identifiers_is_in_the_registry_change_log(authority, staff):
    before = registry_import.authority_snapshot(authority)
    authority.signing_identifiers = ["LEGFR-0042"]
    authority.save()

    change = registry_import.registry_change_record(authority=authority, before=before, by=staff)

    assert change.in_words() == ["Signing identifiers: added LEGFR-0042"]


def test_checker_reports_a_broken_signature_and_the_fallback_checker_sees_the_same(
    trusted_ca, tmp_path
):
    signed = bytearray(signed_by(trusted_ca))
    # One byte of the document changed inside the signed range (the page's /MediaBox).
    at = signed.index(b"/MediaBox [ 0 0 612 792 ]") + len(b"/MediaBox [ 0 0 61")
    signed[at] = ord("3")
    path = tmp_path / "broken.pdf"
    path.write_bytes(bytes(signed))

    [served] = check(bytes(signed))
    [spawned] = spawn_checker(str(path), trust.anchors_file())["signatures"]

    assert not served["intact"] and not spawned["intact"]
    assert trust.problems(served, authority=None) == ["signature_broken"]


# --- The verdicts, side by side (printed at the end of the run: tests/figures.py) ---------------


def yes(value) -> str:
    return "yes" if value else "no"


@pytest.mark.figure("signature verdicts")
def test_verdict_of_each_kind_of_signed_order(authority, ca, tsa, tmp_path):
    """The test CA is a qualified CA of an imported trusted list; its signers: a qualified one
    of the authority (time-stamped), a non-qualified one of the authority, an expired one of the
    authority, a qualified one of another organisation; and the qualified order changed after
    signing. Each verdict, and the table of them the run prints."""
    import_list(tmp_path, trusted_list_xml([(ca, CA_QC, GRANTED)]))
    authority.signing_identifiers = ["LEGFR-0042"]
    authority.save()
    documents = signed_orders(ca, tsa, organisation="Parquet", organisation_id="LEGFR-0042")
    expected = {
        # intact, time-stamped, valid at signing, trusted, qualified, belongs, signals
        "qualified.pdf": ("yes", "yes", "yes", "yes", "yes", "yes", []),
        "not-qualified.pdf": ("yes", "no", "yes", "yes", "no", "yes", ["signature_not_qualified"]),
        "expired.pdf": ("yes", "no", "no", "no", "no", "yes", ["signature_expired"]),
        "other-organisation.pdf": (
            "yes", "no", "yes", "yes", "yes", "no", ["signer_other_organisation"],
        ),
        "changed.pdf": (
            "CHANGED after signing", "yes", "yes", "yes", "yes", "yes", ["signature_changed"],
        ),
    }  # fmt: skip

    rows = []
    for name, (_, content) in documents.items():
        [record] = check(content)
        verdict = (
            "CHANGED after signing" if record["changed_after_signing"] else yes(record["intact"]),
            yes(record["time_source"] == "timestamp"),
            yes(record["certificate_valid_at_signing"]),
            yes(record["trusted"]),
            yes(record["qualified"]),
            yes(trust.belongs_to(authority, record)),
            trust.problems(record, authority),
        )
        assert verdict == expected[name], name
        signer = f"{record['signer_name']} ({record['organisation']})"
        rows.append((name, signer, *verdict[:-1], ", ".join(verdict[-1]) or "none"))

    for row in rows:
        record_figure("signature verdicts", row)


@pytest.mark.parametrize(
    ("source", "value"),
    [
        (b"<48656C6C6F> 42", b"Hello"),
        (b"<48 65\n6c\r\n6C\t6F> 42", b"Hello"),
        (b"<901FA> 42", b"\x90\x1f\xa0"),  # an odd last digit is followed by a 0
        (b"<> 42", b""),
    ],
)
def test_hex_strings_read_at_once_read_as_pyhanko_reads_them(source, value):
    """pdfsignatures reads a hex string (a signature's /Contents) in one slice: the same value,
    and the stream left just after the ">"."""
    import io

    from pyhanko.pdf_utils import generic

    from requests_app import pdfsignatures

    pdfsignatures._read_hex_strings_at_once()
    stream = io.BytesIO(source)

    assert generic.read_object(stream, None).original_bytes == value
    assert stream.read() == b" 42"


def test_a_hex_string_with_a_foreign_character_is_refused_as_pyhanko_refuses_it():
    import io

    from pyhanko.pdf_utils import generic

    from requests_app import pdfsignatures

    pdfsignatures._read_hex_strings_at_once()

    with pytest.raises(generic.PdfStreamError):
        generic.read_object(io.BytesIO(b"<4G>"), None)
    with pytest.raises(generic.PdfStreamError):
        generic.read_object(io.BytesIO(b"<48656C"), None)


def test_the_checkers_warm_up_verifies_a_valid_trusted_signature_and_again_the_same():
    """The checker server warms pyHanko before it forks (pdfsignatures.preload) with a signature
    of its own: it must take the path a valid signature takes, not stop at a refused key usage;
    and a second verification in the same process (the event loop made once) says the same."""
    import shutil
    from pathlib import Path

    from requests_app import pdfsignatures

    document, anchors_path = pdfsignatures._warm_up_document()
    try:
        anchors = pdfsignatures.load_anchors(anchors_path)
        [first] = pdfsignatures.verify(document, anchors)
        [second] = pdfsignatures.verify(document, anchors)
    finally:
        pdfsignatures._PREPARED.pop(anchors_path, None)
        shutil.rmtree(Path(anchors_path).parent)

    assert first["intact"] and first["trusted"] and first["certificate_valid_at_signing"]
    assert first["trust_problem"] is None and first["time_source"] == "timestamp"
    assert second == first


@pytest.mark.parametrize(
    "value", ["Parquet de Paris", "  Parquet   de\tParis ", "STRAßE", "ｐａｒｑｕｅｔ", "é"]
)
def test_name_values_prepared_once_are_prepared_as_asn1crypto_prepares_them(value):
    from asn1crypto import x509 as asn1_x509

    from requests_app import pdfsignatures

    pdfsignatures._prepare_names_once()
    prepare = asn1_x509.NameTypeAndValue._ldap_string_prep
    pdfsignatures._PREPARED_NAMES.clear()

    first, again = prepare(None, value), prepare(None, value)

    assert first == again == prepare.__wrapped__(None, value)
    assert pdfsignatures._PREPARED_NAMES[value] == first


def test_a_name_value_the_preparation_refuses_is_refused_every_time_and_not_kept():
    from asn1crypto import x509 as asn1_x509

    from requests_app import pdfsignatures

    pdfsignatures._prepare_names_once()
    prepare = asn1_x509.NameTypeAndValue._ldap_string_prep
    refused = "Parquet \ue000"  # a private use character (RFC 4518, 2.4)

    for _ in range(2):
        with pytest.raises(ValueError):
            prepare(None, refused)
    assert refused not in pdfsignatures._PREPARED_NAMES
