"""The signatures of an uploaded PDF, verified with pyHanko inside the sandboxed checker
(requests_app/filecheck.py): like filecheck, this module imports nothing from Django and reads
no database. The trust anchors come in as a JSON file the web process wrote
(requests_app/trust.py, `anchors_file`): a list of {"pem", "qualified", "source"}.

Each signature becomes one JSON object of facts (docs/security.md, "Signature verification"):
- intact: the signed bytes hash to what was signed and the signature over them is valid;
- changed_after_signing: a later incremental update changed what a reader shows (pyHanko's
  difference analysis: modification level OTHER, or a DocMDP violation); form filling and
  further signatures are allowed updates;
- signer (subject, O, organizationIdentifier) and issuer;
- signing time, from a time-stamp token (attested) or only claimed by the signer's software;
- certificate_valid_at_signing: the chain to a trust anchor validates at that time (the
  time-stamp's; without one, now: a claimed time proves nothing); expired: the certificate's
  validity ended before that time;
- trusted: the chain ends at one of the anchors (anchor: which, and its source);
- qualified: that anchor is a CA/QC service granted in an imported EU trusted list, and the
  certificate states it is qualified (qcStatements, QcCompliance: ETSI EN 319 412-5).
No revocation data can be fetched (the checker has no network): revocation is not checked.
"""

import contextlib
import functools
import hashlib
import io
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass

# qcStatements (RFC 3739) and ETSI's QcCompliance statement inside it.
QC_STATEMENTS = "1.3.6.1.5.5.7.1.3"
QC_COMPLIANCE = "0.4.0.1862.1.1"
# pyHanko's sub-indications of a certificate outside its validity period at validation time.
EXPIRED_INDICATIONS = {"OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED", "EXPIRED"}


def preload() -> None:
    """Ready pyHanko's validator in the checker server before it forks (filecheck.serve): a
    child then verifies a signature without paying for the imports. Importing is not enough:
    a first validation loads more modules and fills caches (algorithms, the CMS, time-stamp
    and path-building code), which cost each forked child 15 to 35 ms of its check
    (`python -m bench.run --only signatures`). So the server verifies, once, a signature of
    its own made here with throw-away keys (a CA, a signer, a time-stamping unit), trusting
    that CA: every child inherits what that warmed."""
    global _WARM_UP
    try:
        document, anchor_file = _warm_up_document()
        anchors = load_anchors(anchor_file)
        verify(document, anchors)
        _PREPARED.pop(anchor_file, None)
        shutil.rmtree(os.path.dirname(anchor_file), ignore_errors=True)
        _WARM_UP = (document, anchors)
    except Exception:  # noqa: BLE001, S110 - only a speed-up: a failure leaves checks as they were
        pass


# The warm-up's document and its anchors, kept by preload for verify_warm_up.
_WARM_UP: tuple[bytes, "Anchors"] | None = None


def verify_warm_up() -> None:
    """The warm-up's verification again: the checker server learns from it which of its pages
    a verification writes (filecheck._Spare, prefault.py). Nothing after a failed preload."""
    if _WARM_UP is not None:
        verify(*_WARM_UP)


def _warm_up_document() -> tuple[bytes, str]:
    """A one-page PDF signed and time-stamped under a throw-away CA, and that CA as an anchor."""
    from datetime import UTC, datetime, timedelta

    from asn1crypto import keys
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.writer import PdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.timestamps import DummyTimeStamper
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "checker warm-up CA")])

    def issued(common_name, key, *extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        der = builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        private = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return asn1_x509.Certificate.load(der), keys.PrivateKeyInfo.load(private)

    def usage(*, ca: bool) -> tuple[x509.KeyUsage, bool]:
        return (
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=not ca,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )

    ca, _ = issued(
        "checker warm-up CA",
        ca_key,
        (x509.BasicConstraints(ca=True, path_length=0), True),
        usage(ca=True),
    )
    # Non-repudiation, as pyHanko requires of a signer by default: the warm-up takes the path a
    # valid signature takes (without it, pyHanko refused the key usage and stopped early).
    signer, signer_key = issued(
        "checker warm-up", ec.generate_private_key(ec.SECP256R1()), usage(ca=False)
    )
    tsa, tsa_key = issued(
        "checker warm-up TSA",
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),
    )
    blank = PdfFileWriter()
    blank.insert_page(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Page"),
                generic.NameObject("/MediaBox"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (0, 0, 612, 792)]
                ),
            }
        )
    )
    out = io.BytesIO()
    blank.write(out)
    chain = SimpleCertificateStore.from_certs([ca])
    signed = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Signature1"),
        signer=signers.SimpleSigner(
            signing_cert=signer, signing_key=signer_key, cert_registry=chain
        ),
        timestamper=DummyTimeStamper(tsa_cert=tsa, tsa_key=tsa_key, certs_to_embed=chain),
    ).sign_pdf(IncrementalPdfFileWriter(out))
    pem = "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n".format(
        __import__("base64").encodebytes(ca.dump()).decode().strip()
    )
    folder = tempfile.mkdtemp(prefix="checker-warm-up-")
    path = os.path.join(folder, "anchors.json")
    with open(path, "w") as handle:
        json.dump([{"pem": pem, "qualified": True, "source": "warm-up"}], handle)
    return signed.getvalue(), path


@dataclass(frozen=True)
class Anchors:
    """The trust anchors of an anchors file, parsed: pyHanko's trust manager over their
    certificates, and each anchor's record by its certificate's SHA-256."""

    trust_manager: object | None
    by_fingerprint: dict[str, dict]


# By anchors file: a file's name is its content's SHA-256 (trust.anchors_file), so an entry never
# goes stale. The checker server fills it before it forks (filecheck.serve): a child then
# verifies against anchors parsed once, not once per upload.
_PREPARED: dict[str | None, Anchors] = {}


def load_anchors(path: str | None) -> Anchors:
    if path in _PREPARED:
        return _PREPARED[path]
    from asn1crypto import pem
    from asn1crypto import x509 as asn1_x509
    from pyhanko_certvalidator.registry import SimpleCertificateStore, SimpleTrustManager

    records = []
    if path:
        with open(path, "rb") as handle:
            records = json.load(handle)
    roots, by_fingerprint = [], {}
    for anchor in records:
        _, _, der = pem.unarmor(anchor["pem"].encode())
        roots.append(asn1_x509.Certificate.load(der))
        by_fingerprint[hashlib.sha256(der).hexdigest()] = anchor
    _prepare_names_once()
    with contextlib.suppress(Exception):  # a certificate that fails here fails in the child
        # Every validation registers the anchors with its context's certificate registry, which
        # computes (and asn1crypto keeps on each certificate) their issuer and serial, key
        # hashes and name: computed here, before the fork, a child reads them. The anchors'
        # names are also the issuer names of every certificate under them: prepared here, a
        # child finds them in _PREPARED_NAMES.
        SimpleCertificateStore.from_certs(roots)
    prepared = Anchors(
        trust_manager=SimpleTrustManager.build(trust_roots=roots) if roots else None,
        by_fingerprint=by_fingerprint,
    )
    if len(_PREPARED) >= 4:  # a list re-imported now and then: keep the recent few
        _PREPARED.clear()
    _PREPARED[path] = prepared
    return prepared


def verify(data: bytes, anchors: Anchors) -> list[dict]:
    """One fact record per embedded signature, in the file's order."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    _read_hex_strings_at_once()
    _prepare_names_once()
    try:
        signatures = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
    except Exception:
        return [_unreadable()]
    return [_verified(signature, anchors) for signature in signatures]


# PDF white space (ISO 32000-1, 7.2.2), which a hex string may hold between its digits.
_PDF_WHITE_SPACE = b"\x00\t\n\x0c\r "


def _read_hex_strings_at_once() -> None:
    """Make pyHanko read a hex string <...> in one slice instead of a token at a time.

    A signature's /Contents is one: the CMS blob in a placeholder of 8 to 30 kB of hex digits,
    which pyHanko's reader walks a byte at a time in Python, and reads twice (to find the
    signatures, then to validate one). That was a third of a signature's verification
    (docs/signatures.md, "What it costs"). Same result, same refusal of a non-hex character."""
    from pyhanko.pdf_utils import generic

    if getattr(generic.read_hex_string_from_stream, "reads_at_once", False):
        return

    def read_hex_string_from_stream(stream):
        start = stream.tell()
        stream.read(1)  # the "<"
        digits = bytearray()
        while True:
            piece = stream.read(65536)
            if not piece:
                raise generic.PdfStreamError("Stream has ended unexpectedly")
            end = piece.find(b">")
            if end >= 0:
                digits += piece[:end]
                stream.seek(start + 1 + len(digits) + 1)
                break
            digits += piece
        digits = bytes(digits).translate(None, _PDF_WHITE_SPACE)
        if len(digits) % 2:
            digits += b"0"  # an odd last digit is followed by an implied 0
        try:
            return generic.pdf_string(bytes.fromhex(digits.decode("ascii")))
        except (UnicodeDecodeError, ValueError) as error:
            raise generic.PdfStreamError("Unexpected token in hex string") from error

    read_hex_string_from_stream.reads_at_once = True
    generic.read_hex_string_from_stream = read_hex_string_from_stream


# A name's attribute value -> its RFC 4518 preparation, as asn1crypto computes it.
_PREPARED_NAMES: dict[str, str] = {}
_MAX_PREPARED_NAMES = 4096


def _prepare_names_once() -> None:
    """Make asn1crypto prepare each distinct name value once per process.

    Comparing two distinguished names (RFC 5280, 7.1) prepares every attribute value of both
    with RFC 4518's string preparation (stringprep tables, in Python), again for every new parse
    of the same certificate: a verification compares the signer's and the time-stamping unit's
    issuer names about 17 times (the ESS signing-certificate check, whose issuer pyHanko cannot
    compare byte for byte, and path building), a fifth of its time. The preparation is a
    function of the value alone, so the same value gets the same answer from the table; a value
    the preparation refuses (a prohibited character) is not stored and raises again as before."""
    from asn1crypto import x509 as asn1_x509

    original = asn1_x509.NameTypeAndValue._ldap_string_prep
    if getattr(original, "prepares_once", False):
        return

    def _ldap_string_prep(self, string):
        if type(string) is not str:
            return original(self, string)
        prepared = _PREPARED_NAMES.get(string)
        if prepared is None:
            prepared = original(self, string)
            if len(_PREPARED_NAMES) >= _MAX_PREPARED_NAMES:
                _PREPARED_NAMES.clear()
            _PREPARED_NAMES[string] = prepared
        return prepared

    _ldap_string_prep.prepares_once = True
    _ldap_string_prep.__wrapped__ = original
    asn1_x509.NameTypeAndValue._ldap_string_prep = _ldap_string_prep


def _unreadable() -> dict:
    return {"readable": False, "intact": False, "trusted": False, "qualified": False}


# One event loop per thread, the checker server's made before it forks (preload).
_LOOPS = threading.local()


def _event_loop():
    """The loop that runs pyHanko's validation (a coroutine; its synchronous
    validate_pdf_signature wraps it in asyncio.run). asyncio.run makes and closes a new loop
    each time (an epoll instance, a socket pair, the loop's objects): in a child freshly forked
    from the checker server that cost 1.5 ms and 380 copied pages per signature, more than a
    tenth of a signed upload's check. The validation reads nothing from the network (no
    fetching) and registers nothing with the loop, so a loop made once runs it the same."""
    import asyncio

    loop = getattr(_LOOPS, "loop", None)
    if loop is None or loop.is_closed():
        loop = _LOOPS.loop = asyncio.new_event_loop()
    return loop


def _verified(signature, anchors: Anchors) -> dict:
    from pyhanko.sign.validation.pdf_embedded import async_validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    async def validation(context):
        # What validate_pdf_signature does inside asyncio.run: validate, then release what the
        # context provisioned (nothing, without fetching).
        try:
            return await async_validate_pdf_signature(
                embedded_sig=signature,
                signer_validation_context=context,
                ts_validation_context=context,
            )
        finally:
            await context.aclose()

    def validated(moment=None):
        # A context per validation: its time is fixed when it is made. No trust manager: an
        # empty list of roots, so nothing is trusted (None would mean the system's roots).
        context = ValidationContext(
            trust_roots=None if anchors.trust_manager else [],
            trust_manager=anchors.trust_manager,
            allow_fetching=False,
            moment=moment,
        )
        return _event_loop().run_until_complete(validation(context))

    try:
        status = validated()
        stamp = status.timestamp_validity
        attested = stamp is not None and stamp.intact and stamp.valid and stamp.trusted
        if attested and not status.trusted and _indication(status) in EXPIRED_INDICATIONS:
            # Valid when the time-stamp says it was signed? Check the chain at that moment.
            status = validated(stamp.timestamp)
    except Exception:
        return _unreadable()

    certificate = status.signing_cert
    signing_time = stamp.timestamp if attested else status.signer_reported_dt
    checked_at = stamp.timestamp if attested else status.validation_time
    anchor = None
    if status.validation_path is not None and status.trusted:
        anchor = anchors.by_fingerprint.get(
            hashlib.sha256(status.validation_path[0].dump()).hexdigest()
        )
    not_after = certificate["tbs_certificate"]["validity"]["not_after"].native
    qc_compliance = _states_qualified(certificate)
    modification = status.modification_level
    return {
        "readable": True,
        "field": signature.field_name,
        "intact": bool(status.intact and status.valid),
        "coverage": status.coverage.name if status.coverage else None,
        "modification_level": modification.name if modification else None,
        "docmdp_ok": status.docmdp_ok,
        "changed_after_signing": bool(
            (modification is not None and modification.name == "OTHER") or status.docmdp_ok is False
        ),
        "signer": certificate.subject.human_friendly,
        "signer_name": _attribute(certificate.subject, "common_name"),
        "organisation": _attribute(certificate.subject, "organization_name"),
        "organisation_identifier": _attribute(certificate.subject, "organization_identifier"),
        "issuer": certificate.issuer.human_friendly,
        "serial": format(certificate.serial_number, "x"),
        "not_after": not_after.isoformat(),
        "signing_time": signing_time.isoformat() if signing_time else None,
        "time_source": "timestamp" if attested else "claimed" if signing_time else None,
        "timestamp_present": stamp is not None,
        "checked_at": checked_at.isoformat() if checked_at else None,
        "certificate_valid_at_signing": bool(status.trusted),
        "expired": bool(checked_at and not_after < checked_at),
        "trusted": bool(status.trusted),
        "trust_problem": _indication(status),
        "anchor": status.validation_path[0].subject.human_friendly if anchor else None,
        "anchor_source": anchor["source"] if anchor else None,
        "qc_compliance": qc_compliance,
        "qualified": bool(anchor and anchor.get("qualified") and qc_compliance),
    }


def _indication(status) -> str | None:
    indication = status.trust_problem_indic
    return indication.name if indication is not None else None


def _attribute(name, key: str) -> str:
    """One attribute of a distinguished name as text ("" when absent); asn1crypto knows
    organizationIdentifier (2.5.4.97) by name."""
    try:
        value = name.native.get(key)
    except Exception:
        return ""
    if isinstance(value, list):
        value = ", ".join(str(item) for item in value)
    return str(value or "")


@functools.cache
def _qc_statements_spec():
    """qcStatements' ASN.1 (RFC 3739), defined once per process (before the checker server
    forks: preload) rather than as two new classes per signature."""
    from asn1crypto import core

    class QcStatement(core.Sequence):
        _fields = [
            ("statement_id", core.ObjectIdentifier),
            ("statement_info", core.Any, {"optional": True}),
        ]

    class QcStatements(core.SequenceOf):
        _child_spec = QcStatement

    return QcStatements


def _states_qualified(certificate) -> bool:
    """The certificate carries the QcCompliance statement: its issuer declares it qualified."""
    for extension in certificate["tbs_certificate"]["extensions"]:
        if extension["extn_id"].dotted != QC_STATEMENTS:
            continue
        try:
            statements = _qc_statements_spec().load(extension["extn_value"].contents)
            return any(s["statement_id"].dotted == QC_COMPLIANCE for s in statements)
        except Exception:
            return False
    return False
