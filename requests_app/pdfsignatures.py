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

import hashlib
import io
import json

# qcStatements (RFC 3739) and ETSI's QcCompliance statement inside it.
QC_STATEMENTS = "1.3.6.1.5.5.7.1.3"
QC_COMPLIANCE = "0.4.0.1862.1.1"
# pyHanko's sub-indications of a certificate outside its validity period at validation time.
EXPIRED_INDICATIONS = {"OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED", "EXPIRED"}


def preload() -> None:
    """Import pyHanko's validator in the checker server before it forks (filecheck.serve):
    a child then verifies a signature without paying for the import."""
    from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: F401
    from pyhanko.sign.validation import validate_pdf_signature  # noqa: F401
    from pyhanko_certvalidator import ValidationContext  # noqa: F401


def load_anchors(path: str | None) -> list[dict]:
    if not path:
        return []
    with open(path, "rb") as handle:
        return json.load(handle)


def verify(data: bytes, anchors: list[dict]) -> list[dict]:
    """One fact record per embedded signature, in the file's order."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        signatures = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
    except Exception:
        return [_unreadable()]
    return [_verified(signature, anchors) for signature in signatures]


def _unreadable() -> dict:
    return {"readable": False, "intact": False, "trusted": False, "qualified": False}


def _verified(signature, anchors: list[dict]) -> dict:
    from asn1crypto import pem
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    roots = []
    by_fingerprint = {}
    for anchor in anchors:
        _, _, der = pem.unarmor(anchor["pem"].encode())
        certificate = asn1_x509.Certificate.load(der)
        roots.append(certificate)
        by_fingerprint[hashlib.sha256(der).hexdigest()] = anchor

    def validated(moment=None):
        context = ValidationContext(trust_roots=roots, allow_fetching=False, moment=moment)
        return validate_pdf_signature(
            signature, signer_validation_context=context, ts_validation_context=context
        )

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
        anchor = by_fingerprint.get(hashlib.sha256(status.validation_path[0].dump()).hexdigest())
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


def _states_qualified(certificate) -> bool:
    """The certificate carries the QcCompliance statement: its issuer declares it qualified."""
    from asn1crypto import core

    class QcStatement(core.Sequence):
        _fields = [
            ("statement_id", core.ObjectIdentifier),
            ("statement_info", core.Any, {"optional": True}),
        ]

    class QcStatements(core.SequenceOf):
        _child_spec = QcStatement

    for extension in certificate["tbs_certificate"]["extensions"]:
        if extension["extn_id"].dotted != QC_STATEMENTS:
            continue
        try:
            statements = QcStatements.load(extension["extn_value"].contents)
            return any(s["statement_id"].dotted == QC_COMPLIANCE for s in statements)
        except Exception:
            return False
    return False
