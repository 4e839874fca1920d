"""The platform's seal: the key and certificate that seal each receipt (docs/receipts.md).

The seal is a PKCS#12 file named by settings.PORTAL_SEAL_P12, opened with
PORTAL_SEAL_PASSPHRASE. pyHanko signs (PAdES baseline B-B, or B-T with a time-stamp when
PORTAL_TSA_URL names a time-stamping authority); nothing here is hand-rolled crypto.
This module reads no model: the settings module of the tests calls `demo_seal_write`.
"""

import asyncio
import functools
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

logger = logging.getLogger(__name__)

# The word a demo seal's subject carries; the receipt sealed with it says so in large letters.
DEMO = "DEMO"
SIGNATURE_FIELD = "PlatformSeal"


class SealUnavailable(Exception):
    """The seal cannot be used (missing, unreadable, wrong passphrase, expired)."""


@dataclass(frozen=True)
class SealInfo:
    subject: str
    not_after: datetime
    is_demo: bool


def demo_seal_write(path: Path, *, passphrase: str, subject: str = f"{DEMO} seal") -> None:
    """Write a self-signed seal certificate and its key as PKCS#12 (a demo, never production:
    no authority can trust it but by importing this very certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, subject),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"Legal request portal ({DEMO})"),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3 * 365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    data = pkcs12.serialize_key_and_certificates(
        b"seal",
        key,
        certificate,
        None,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o600)


def _configured() -> tuple[bytes, bytes]:
    from django.conf import settings

    if not settings.PORTAL_SEAL_P12:
        raise SealUnavailable("PORTAL_SEAL_P12 is not set.")
    try:
        data = Path(settings.PORTAL_SEAL_P12).read_bytes()
    except OSError as error:
        raise SealUnavailable(
            f"PORTAL_SEAL_P12 ({settings.PORTAL_SEAL_P12}) cannot be read: {error.strerror}."
        ) from error
    return data, settings.PORTAL_SEAL_PASSPHRASE.encode()


# Opening the PKCS#12 costs about 5 ms, and a receipt asked for it three times: opened once per
# process and per file content, so a new seal file is used as soon as it is in place.
@functools.lru_cache(maxsize=4)
def _opened(data: bytes, passphrase: bytes):
    return pkcs12.load_key_and_certificates(data, passphrase or None)


@functools.lru_cache(maxsize=4)
def _signer(data: bytes, passphrase: bytes):
    from pyhanko.sign import signers

    return signers.SimpleSigner.load_pkcs12_data(data, other_certs=[], passphrase=passphrase)


def seal_info(now: datetime | None = None) -> SealInfo:
    """The configured seal's subject and expiry; SealUnavailable says why it cannot seal."""
    data, passphrase = _configured()
    try:
        key, certificate, _ = _opened(data, passphrase)
    except ValueError as error:
        raise SealUnavailable(
            "PORTAL_SEAL_P12 cannot be opened with PORTAL_SEAL_PASSPHRASE (or is not PKCS#12)."
        ) from error
    if key is None or certificate is None:
        raise SealUnavailable("PORTAL_SEAL_P12 holds no key and certificate.")
    subject = certificate.subject.rfc4514_string()
    not_after = certificate.not_valid_after_utc
    if not_after <= (now or datetime.now(UTC)):
        raise SealUnavailable(f"The seal certificate ({subject}) expired on {not_after:%Y-%m-%d}.")
    return SealInfo(subject=subject, not_after=not_after, is_demo=DEMO in subject)


def seal_certificates_pem() -> bytes:
    """The seal's certificate and the chain in its PKCS#12 file, as PEM: what the platform gives
    the authorities to trust (docs/receipts.md)."""
    data, passphrase = _configured()
    _, certificate, chain = _opened(data, passphrase)
    certificates = [certificate, *(chain or [])] if certificate else list(chain or [])
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def _run_coroutine(coroutine):
    """pyHanko signs asynchronously, and its sign_pdf() calls asyncio.run(), which refuses to
    start inside a running event loop (a thread of an ASGI server, a test driving a browser):
    there the coroutine runs in a loop of its own, on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


RESERVED_HEX_DIGITS = 32 * 1024


@dataclass(frozen=True)
class Sealed:
    pdf: bytes
    timestamped: bool


def seal_pdf(pdf: bytes, *, reason: str) -> Sealed:
    """Seal a PDF with the platform's seal: PAdES B-B, or B-T with a time-stamp from
    PORTAL_TSA_URL. A time-stamping authority that does not answer does not stop a submission:
    the receipt is sealed without the time-stamp (B-B), and the failure is logged."""
    from django.conf import settings
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers, timestamps
    from pyhanko.sign.general import SigningError

    data, passphrase = _configured()
    signer = _signer(data, passphrase)
    if signer is None:  # pyHanko logs why and returns None
        raise SealUnavailable("PORTAL_SEAL_P12 cannot be loaded.")
    metadata = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason,
    )

    def sign(timestamper) -> bytes:
        # Room for the signature reserved up front (hex digits: 16 KB of CMS, 32 KB with a
        # time-stamp token and its chain): otherwise pyHanko signs once more only to measure it,
        # a third of a receipt's cost. A seal whose chain does not fit is signed the measured way.
        reserve = RESERVED_HEX_DIGITS * (2 if timestamper is not None else 1)
        for reserved in (reserve, None):
            writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
            pdf_signer = signers.PdfSigner(metadata, signer=signer, timestamper=timestamper)
            try:
                signed = _run_coroutine(pdf_signer.async_sign_pdf(writer, bytes_reserved=reserved))
            except SigningError:
                if reserved is None:
                    raise
                continue
            return signed.getvalue()
        raise AssertionError("unreachable: the measured attempt returns or raises")

    if settings.PORTAL_TSA_URL:
        try:
            return Sealed(
                sign(timestamps.HTTPTimeStamper(settings.PORTAL_TSA_URL, timeout=10)), True
            )
        except Exception:
            logger.exception("time-stamping authority failed; receipt sealed without a time-stamp")
    return Sealed(sign(None), False)
