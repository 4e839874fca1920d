"""Signed orders for the tests (issue 18): a CA of the tests' own, signer certificates (of an
authority, of another organisation, expired, qualified), PDFs signed with pyHanko, and a small
ETSI TS 119 612 trusted list naming a CA as a qualified one. Nothing here reaches the internet."""

import base64
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import core, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

# ETSI EN 319 412-5: the statement a qualified certificate carries (id-etsi-qcs-QcCompliance).
QC_COMPLIANCE = "0.4.0.1862.1.1"
QC_STATEMENTS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def asn1(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.der)

    def asn1_key(self) -> keys.PrivateKeyInfo:
        return keys.PrivateKeyInfo.load(
            self.key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _qc_statements() -> bytes:
    class QcStatement(core.Sequence):
        _fields = [("statement_id", core.ObjectIdentifier)]

    class QcStatements(core.SequenceOf):
        _child_spec = QcStatement

    return QcStatements([{"statement_id": QC_COMPLIANCE}]).dump()


def make_ca(name: str = "Test CA") -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{name} operator"),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=3650))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate, key)


def make_signer(
    ca: Issued,
    *,
    name: str = "Jeanne Martin",
    organisation: str = "Parquet de Paris",
    organisation_id: str | None = None,
    qualified: bool = False,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    time_stamping: bool = False,
) -> Issued:
    # pyHanko's DummyTimeStamper signs with RSA only.
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if time_stamping
        else ec.generate_private_key(ec.SECP256R1())
    )
    attributes = [
        x509.NameAttribute(NameOID.COMMON_NAME, name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
    ]
    if organisation_id:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, organisation_id))
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from or now - timedelta(days=1))
        .not_valid_after(valid_until or now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
    )
    if qualified:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(QC_STATEMENTS, _qc_statements()), critical=False
        )
    if time_stamping:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def sign_pdf(
    pdf: bytes,
    signer: Issued,
    ca: Issued,
    *,
    timestamp_by: Issued | None = None,
    at: datetime | None = None,
    field_name: str = "Signature1",
) -> bytes:
    """`pdf` signed by `signer` (PAdES), its chain embedded; time-stamped by `timestamp_by` (a
    TSA certificate of `ca`) when given, at `at` (the TSA's time) when given."""
    simple = signers.SimpleSigner(
        signing_cert=signer.asn1(),
        signing_key=signer.asn1_key(),
        cert_registry=SimpleCertificateStore.from_certs([ca.asn1()]),
    )
    stamper = None
    if timestamp_by is not None:
        stamper = DummyTimeStamper(
            tsa_cert=timestamp_by.asn1(),
            tsa_key=timestamp_by.asn1_key(),
            certs_to_embed=SimpleCertificateStore.from_certs([ca.asn1()]),
            fixed_dt=at,
        )
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256"
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    output = signers.PdfSigner(metadata, signer=simple, timestamper=stamper).sign_pdf(writer)
    return output.getvalue()


def changed_after_signing(signed: bytes) -> bytes:
    """`signed` with an incremental update that draws on the first page: the signature still
    covers its revision, but what a reader shows is no longer what was signed."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    stream = generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 720 Td (ALTERED) Tj ET")
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    contents = page.get("/Contents")
    added = writer.add_object(stream)
    if contents is None:
        page["/Contents"] = added
    else:
        page["/Contents"] = generic.ArrayObject([contents, added])
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


TSL = "http://uri.etsi.org/02231/v2#"
GRANTED = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"
WITHDRAWN = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/withdrawn"
CA_QC = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
TSA_QTST = "http://uri.etsi.org/TrstSvc/Svctype/TSA/QTST"


def trusted_list_xml(
    services: list[tuple[Issued, str, str]],
    *,
    territory: str = "FR",
    sequence: int = 42,
    issued: str = "2026-10-01T00:00:00Z",
) -> bytes:
    """A national trusted list (ETSI TS 119 612) with one TSP holding `services`, each
    (certificate, service type, status)."""
    entries = "".join(
        f"""<tsl:TSPService><tsl:ServiceInformation>
<tsl:ServiceTypeIdentifier>{kind}</tsl:ServiceTypeIdentifier>
<tsl:ServiceName>
  <tsl:Name xml:lang="en">{issued_.certificate.subject.rfc4514_string()}</tsl:Name>
</tsl:ServiceName>
<tsl:ServiceDigitalIdentity><tsl:DigitalId>
  <tsl:X509Certificate>{base64.b64encode(issued_.der).decode()}</tsl:X509Certificate>
</tsl:DigitalId></tsl:ServiceDigitalIdentity>
<tsl:ServiceStatus>{status}</tsl:ServiceStatus>
<tsl:StatusStartingTime>2020-01-01T00:00:00Z</tsl:StatusStartingTime>
</tsl:ServiceInformation></tsl:TSPService>"""
        for issued_, kind, status in services
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<tsl:TrustServiceStatusList xmlns:tsl="{TSL}" Id="TSL" TSLTag="http://uri.etsi.org/19612/TSLTag">
<tsl:SchemeInformation>
<tsl:TSLVersionIdentifier>5</tsl:TSLVersionIdentifier>
<tsl:TSLSequenceNumber>{sequence}</tsl:TSLSequenceNumber>
<tsl:TSLType>http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUgeneric</tsl:TSLType>
<tsl:SchemeOperatorName>
  <tsl:Name xml:lang="en">Test supervisory body</tsl:Name>
</tsl:SchemeOperatorName>
<tsl:SchemeTerritory>{territory}</tsl:SchemeTerritory>
<tsl:ListIssueDateTime>{issued}</tsl:ListIssueDateTime>
<tsl:NextUpdate><tsl:dateTime>2027-04-01T00:00:00Z</tsl:dateTime></tsl:NextUpdate>
</tsl:SchemeInformation>
<tsl:TrustServiceProviderList><tsl:TrustServiceProvider>
<tsl:TSPInformation>
  <tsl:TSPName><tsl:Name xml:lang="en">Test QTSP</tsl:Name></tsl:TSPName>
</tsl:TSPInformation>
<tsl:TSPServices>{entries}</tsl:TSPServices>
</tsl:TrustServiceProvider></tsl:TrustServiceProviderList>
</tsl:TrustServiceStatusList>
""".encode()


def signed_orders(
    ca: Issued, tsa: Issued, *, organisation: str, organisation_id: str
) -> dict[str, tuple[str, bytes]]:
    """One signed order of each kind the reviewer must tell apart, by file name: (what it
    is, the PDF). `ca` is the qualified CA of the imported trusted list; `organisation` and
    `organisation_id` the authority's."""
    from tests.requests_app.helpers import pdf_bytes

    now = datetime.now(UTC)
    ours = {"organisation": organisation, "organisation_id": organisation_id}
    qualified = make_signer(ca, name="Jeanne Martin", qualified=True, **ours)
    plain = make_signer(ca, name="Paul Durand", **ours)
    expired = make_signer(
        ca,
        name="Luc Bernard",
        valid_from=now - timedelta(days=400),
        valid_until=now - timedelta(days=30),
        **ours,
    )
    other = make_signer(ca, name="Marc Dupont", organisation="Cabinet Dupont", qualified=True)
    signed_qualified = sign_pdf(pdf_bytes(), qualified, ca, timestamp_by=tsa)
    return {
        "qualified.pdf": ("qualified, time-stamped", signed_qualified),
        "not-qualified.pdf": ("not qualified", sign_pdf(pdf_bytes(), plain, ca)),
        "expired.pdf": ("expired certificate", sign_pdf(pdf_bytes(), expired, ca)),
        "other-organisation.pdf": (
            "another organisation's signer",
            sign_pdf(pdf_bytes(), other, ca),
        ),
        "changed.pdf": ("changed after signing", changed_after_signing(signed_qualified)),
    }
