"""Trust in the signatures of orders (issue 18, docs/security.md "Signature verification").

- The anchors: CA certificates from PEM files (settings.PORTAL_SIGNATURE_TRUST_ANCHORS) and the
  qualified CAs of the imported EU trusted lists (TrustedList, QualifiedCA). The sandboxed
  checker gets them as a file (`anchors_file`), never the database.
- The import of a national trusted list (ETSI TS 119 612), `import_trusted_list`.
- What a signature record (requests_app/pdfsignatures.py) means for an order of an authority:
  its problems, the reviewer's sentence, the risk signals, and the submission policy
  (settings.PORTAL_SIGNATURE_REQUIRED_INSTRUMENTS).
"""

import base64
import binascii
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext

from .models import Attachment, LegalRequest, QualifiedCA, TrustedList

logger = logging.getLogger(__name__)

# ETSI TS 119 612 v2: the namespace, and the one kind of service whose CAs issue qualified
# certificates, in the one status that makes them qualified now.
TSL_NAMESPACE = "http://uri.etsi.org/02231/v2#"
CA_QC = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
GRANTED = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"
# A national list is a few megabytes; anything far larger is not one.
MAX_TRUSTED_LIST_BYTES = 64 * 1024 * 1024


# --- The anchors -------------------------------------------------------------------------------


def anchors() -> list[dict]:
    """The trust anchors as the checker takes them: {"pem", "qualified", "source"}. A PEM file
    that cannot be read is logged and skipped (system check requests_app.E006 names it)."""
    result = []
    for name in settings.PORTAL_SIGNATURE_TRUST_ANCHORS:
        try:
            certificates = x509.load_pem_x509_certificates(Path(name).read_bytes())
        except (OSError, ValueError):
            logger.exception("trust anchor file %s unusable", name)
            continue
        for certificate in certificates:
            result.append(
                {
                    "pem": certificate.public_bytes(serialization.Encoding.PEM).decode(),
                    "qualified": False,
                    "source": f"PORTAL_SIGNATURE_TRUST_ANCHORS ({Path(name).name})",
                }
            )
    in_force = QualifiedCA.objects.filter(trusted_list__in_force=True).select_related(
        "trusted_list"
    )
    for ca in in_force:
        listed = ca.trusted_list
        result.append(
            {
                "pem": ca.pem,
                "qualified": True,
                "source": f"{listed.territory} trusted list #{listed.sequence_number} "
                f"({listed.issued_at:%Y-%m-%d}, sha256 {listed.sha256[:16]}…)",
            }
        )
    return result


def anchors_file() -> str | None:
    """The anchors written once as a JSON file the checker may read (named by its SHA-256, so
    a new list or PEM file gives a new file), or None when nothing is trusted."""
    trusted = anchors()
    if not trusted:
        return None
    data = json.dumps(trusted, sort_keys=True).encode()
    folder = settings.PRIVATE_MEDIA_ROOT / "scratch"
    path = folder / f"anchors-{hashlib.sha256(data).hexdigest()}.json"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f"{path.name}.{os.getpid()}.partial"
        partial.write_bytes(data)
        partial.replace(path)  # atomic: a concurrent checker never reads half a file
    return str(path)


# --- Import of a trusted list ------------------------------------------------------------------


class TrustListError(Exception):
    """The file is not a trusted list this portal can import; the message says why."""


@dataclass(frozen=True)
class ListedCA:
    provider: str
    service: str
    certificate: x509.Certificate


@dataclass(frozen=True)
class ParsedList:
    territory: str
    sequence_number: int
    issued_at: datetime
    next_update: datetime | None
    operator: str
    cas: list[ListedCA]


def _parse_xml(data: bytes):
    """Parsed safely: no DTD, no entity expansion, no network (an XML bomb or an external
    entity in a file from outside stays text, or is refused)."""
    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)  # noqa: S320 - the parser above is the safe one
    except etree.XMLSyntaxError as error:
        raise TrustListError(f"not well-formed XML: {error}") from error
    if root.getroottree().docinfo.doctype:
        raise TrustListError("has a DOCTYPE: a trusted list has none (refused, not expanded)")
    return root


def _text(element, path: str) -> str:
    found = element.find(path, {"tsl": TSL_NAMESPACE})
    return (found.text or "").strip() if found is not None else ""


def _when(text: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise TrustListError(f"{what} is not a date and time: {text!r}") from error
    if timezone.is_naive(moment):
        raise TrustListError(f"{what} has no time zone: {text!r}")
    return moment


def parse_trusted_list(data: bytes) -> ParsedList:
    """The scheme's provenance and the CA/QC services with status granted, each certificate."""
    root = _parse_xml(data)
    if root.tag != f"{{{TSL_NAMESPACE}}}TrustServiceStatusList":
        raise TrustListError("is not an ETSI TS 119 612 TrustServiceStatusList")
    scheme = root.find("tsl:SchemeInformation", {"tsl": TSL_NAMESPACE})
    if scheme is None:
        raise TrustListError("has no SchemeInformation")
    territory = _text(scheme, "tsl:SchemeTerritory").upper()
    if len(territory) != 2 or not territory.isalpha():
        raise TrustListError(f"has no two-letter SchemeTerritory (found {territory!r})")
    try:
        sequence_number = int(_text(scheme, "tsl:TSLSequenceNumber"))
    except ValueError as error:
        raise TrustListError("has no TSLSequenceNumber") from error
    issued_at = _when(_text(scheme, "tsl:ListIssueDateTime"), "ListIssueDateTime")
    next_text = _text(scheme, "tsl:NextUpdate/tsl:dateTime")
    next_update = _when(next_text, "NextUpdate") if next_text else None
    cas = []
    for provider in root.iterfind(
        "tsl:TrustServiceProviderList/tsl:TrustServiceProvider", {"tsl": TSL_NAMESPACE}
    ):
        provider_name = _text(provider, "tsl:TSPInformation/tsl:TSPName/tsl:Name")
        for info in provider.iterfind(
            "tsl:TSPServices/tsl:TSPService/tsl:ServiceInformation", {"tsl": TSL_NAMESPACE}
        ):
            if _text(info, "tsl:ServiceTypeIdentifier") != CA_QC:
                continue
            if _text(info, "tsl:ServiceStatus") != GRANTED:
                continue
            service = _text(info, "tsl:ServiceName/tsl:Name")
            for encoded in info.iterfind(
                "tsl:ServiceDigitalIdentity/tsl:DigitalId/tsl:X509Certificate",
                {"tsl": TSL_NAMESPACE},
            ):
                try:
                    der = base64.b64decode("".join((encoded.text or "").split()), validate=True)
                    certificate = x509.load_der_x509_certificate(der)
                except (binascii.Error, ValueError) as error:
                    raise TrustListError(
                        f"has a certificate that cannot be read (service {service!r})"
                    ) from error
                cas.append(ListedCA(provider_name[:300], service[:300], certificate))
    return ParsedList(
        territory=territory,
        sequence_number=sequence_number,
        issued_at=issued_at,
        next_update=next_update,
        operator=_text(scheme, "tsl:SchemeOperatorName/tsl:Name")[:300],
        cas=cas,
    )


@transaction.atomic
def import_trusted_list(*, data: bytes, file_name: str) -> TrustedList:
    """Store a national trusted list's qualified CAs; it replaces the list in force for its
    territory. An older list (a lower sequence number) is refused: it may be a replayed one
    that still lists a withdrawn CA."""
    if len(data) > MAX_TRUSTED_LIST_BYTES:
        raise TrustListError("is too large to be a trusted list")
    parsed = parse_trusted_list(data)
    current = (
        TrustedList.objects.select_for_update()
        .filter(territory=parsed.territory, in_force=True)
        .first()
    )
    if current is not None and parsed.sequence_number < current.sequence_number:
        raise TrustListError(
            f"is {parsed.territory} list #{parsed.sequence_number}, older than the list in "
            f"force (#{current.sequence_number})"
        )
    TrustedList.objects.filter(territory=parsed.territory, in_force=True).update(in_force=False)
    trusted_list = TrustedList.objects.create(
        territory=parsed.territory,
        sequence_number=parsed.sequence_number,
        issued_at=parsed.issued_at,
        next_update=parsed.next_update,
        operator=parsed.operator,
        file_name=file_name[:500],
        sha256=hashlib.sha256(data).hexdigest(),
    )
    QualifiedCA.objects.bulk_create(
        QualifiedCA(
            trusted_list=trusted_list,
            provider=ca.provider,
            service=ca.service,
            subject=ca.certificate.subject.rfc4514_string()[:500],
            pem=ca.certificate.public_bytes(serialization.Encoding.PEM).decode(),
            sha256=hashlib.sha256(
                ca.certificate.public_bytes(serialization.Encoding.DER)
            ).hexdigest(),
        )
        for ca in parsed.cas
    )
    return trusted_list


# --- What a signature means for an order ------------------------------------------------------


def _normalised(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def belongs_to(authority, record: dict) -> bool:
    """The signer's organisation (O) or organizationIdentifier is one the registry knows for
    this authority: its signing identifiers, or its official or English name."""
    known = {
        _normalised(value)
        for value in [*(authority.signing_identifiers or []), authority.name, authority.name_en]
        if str(value).strip()
    }
    found = {
        _normalised(record.get(key) or "") for key in ("organisation", "organisation_identifier")
    }
    return bool(known & (found - {""}))


def problems(record: dict, authority) -> list[str]:
    """What is wrong with one signature, as codes (risk.MESSAGES has their sentences)."""
    if not record.get("readable", True) or not record.get("intact"):
        return ["signature_broken"]
    found = []
    if record.get("changed_after_signing"):
        found.append("signature_changed")
    if record.get("expired"):
        found.append("signature_expired")
    elif not record.get("trusted"):
        found.append("signature_untrusted")
    elif not record.get("qualified"):
        found.append("signature_not_qualified")
    if not belongs_to(authority, record):
        found.append("signer_other_organisation")
    return found


def is_valid_signature_of(authority, record: dict) -> bool:
    """Intact, unchanged since, trusted and valid when signed, by this authority (a qualified
    signature is not required: docs/security.md)."""
    return not set(problems(record, authority)) - {"signature_not_qualified"}


def _order_documents(legal_request: LegalRequest):
    return [
        attachment
        for attachment in legal_request.attachments.all()
        if attachment.purpose == Attachment.Purpose.ORDER
    ]


def signature_signals(legal_request: LegalRequest) -> list[tuple[str, dict]]:
    """The risk signals of the order's signatures (risk.compute_signals), as (code, params):
    an instrument that needs an order document (not an inquiry, whose documents are optional
    context) and none of them signed; each signature's problems, naming the document."""
    from . import instruments

    documents = _order_documents(legal_request)
    signals: list[tuple[str, dict]] = []
    # An instrument missing from the rule table (retired, a bad edit) must not break the review
    # page that says so: its documents are then not held to an order's.
    needs_document = instruments.is_known(legal_request.instrument) and (
        instruments.DOCUMENTS in instruments.rule_for(legal_request.instrument).required
    )
    checked = [doc for doc in documents if doc.signatures is not None]
    if needs_document and len(checked) == len(documents) and not any(d.signatures for d in checked):
        signals.append(("order_unsigned", {}))
    authority = legal_request.authority
    for document in documents:
        for record in document.signatures or []:
            for code in problems(record, authority):
                params = {"document": document.original_name}
                if code == "signature_untrusted":
                    params["issuer"] = record.get("issuer") or "?"
                if code == "signer_other_organisation":
                    params["organisation"] = (
                        record.get("organisation")
                        or record.get("organisation_identifier")
                        or record.get("signer")
                        or "?"
                    )
                signals.append((code, params))
    return signals


def required_signature_problem(legal_request: LegalRequest) -> str | None:
    """Under settings.PORTAL_SIGNATURE_REQUIRED_INSTRUMENTS, the message that refuses a
    submission whose order documents carry no valid signature of the authority, naming them."""
    if legal_request.instrument not in settings.PORTAL_SIGNATURE_REQUIRED_INSTRUMENTS:
        return None
    documents = _order_documents(legal_request)
    authority = legal_request.authority
    if any(
        is_valid_signature_of(authority, record)
        for document in documents
        for record in document.signatures or []
    ):
        return None
    if not documents:
        return gettext(
            "This order must carry a valid electronic signature of %(authority)s: attach the "
            "signed order (PDF)."
        ) % {"authority": authority.name}
    named = ", ".join(document.original_name for document in documents)
    return gettext(
        "This order must carry a valid electronic signature of %(authority)s, and %(documents)s "
        "does not (unsigned, broken, changed after signing, not trusted, expired, or signed by "
        "another organisation). Attach the order as signed by the authority."
    ) % {"authority": authority.name, "documents": named}


def _moment(text: str | None) -> str:
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return formats.date_format(timezone.localtime(moment), "Y-m-d H:i T")


def sentence(record: dict, authority) -> str:
    """The reviewer's words for one signature: "Signed by … (qualified, intact, time-stamped
    …); the signer belongs to this authority." """
    if not record.get("readable", True):
        return gettext("A signature that cannot be read: treat it as broken.")
    organisation = ", ".join(
        value
        for value in (record.get("organisation"), record.get("organisation_identifier"))
        if value
    )
    signer = record.get("signer_name") or record.get("signer") or "?"
    if organisation:
        signer = f"{signer} — {organisation}"
    facts = []
    if not record.get("intact"):
        facts.append(gettext("BROKEN: the signed content does not match"))
    else:
        facts.append(gettext("qualified") if record.get("qualified") else gettext("not qualified"))
        facts.append(
            gettext("CHANGED after signing")
            if record.get("changed_after_signing")
            else gettext("intact")
        )
        if record.get("time_source") == "timestamp":
            facts.append(
                gettext("time-stamped %(when)s") % {"when": _moment(record.get("signing_time"))}
            )
        elif record.get("signing_time"):
            facts.append(
                gettext("signing time %(when)s only claimed (no time-stamp)")
                % {"when": _moment(record.get("signing_time"))}
            )
        if record.get("expired"):
            facts.append(gettext("certificate EXPIRED when signed"))
        elif record.get("trusted"):
            facts.append(
                gettext("certificate valid, issued by %(issuer)s")
                % {"issuer": record.get("issuer") or "?"}
            )
        else:
            facts.append(
                gettext("issuer NOT trusted: %(issuer)s") % {"issuer": record.get("issuer") or "?"}
            )
    text = gettext("Signed by %(signer)s (%(facts)s)") % {
        "signer": signer,
        "facts": ", ".join(facts),
    }
    if belongs_to(authority, record):
        return text + "; " + gettext("the signer belongs to this authority.")
    return text + "; " + gettext("the signer does NOT belong to this authority.")


@dataclass(frozen=True)
class SignedDocument:
    name: str
    sentences: list[str]
    ok: bool
    checked: bool = True


def signature_panel(legal_request: LegalRequest) -> list[SignedDocument]:
    """Per order document, the sentences of its signatures (none: unsigned)."""
    authority = legal_request.authority
    return [
        SignedDocument(
            name=document.original_name,
            sentences=[sentence(record, authority) for record in document.signatures or []],
            ok=any(not problems(record, authority) for record in document.signatures or []),
            checked=document.signatures is not None,
        )
        for document in _order_documents(legal_request)
    ]
