"""The platform's seal in the sealed-PDF tests (test_receipts, test_sealed_documents): a CA of
the tests' own issues the seal certificate; an authority trusts that CA."""

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from tests.requests_app.helpers import certificate

PASSPHRASE = "receipt-test"


@pytest.fixture
def platform_ca_keys():
    """A CA of the tests' own: its certificate and key."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test platform CA")])
    return certificate("Test platform CA", ca_key, ca_name, ca_key, ca=True), ca_key


@pytest.fixture
def platform_ca(settings, tmp_path, platform_ca_keys):
    """A seal certificate the test CA issued, configured as the platform's seal; returns the CA
    certificate an authority would trust."""
    ca, ca_key = platform_ca_keys
    ca_name = ca.subject
    seal_key = ec.generate_private_key(ec.SECP256R1())
    seal_certificate = certificate("Portal seal", seal_key, ca_name, ca_key, ca=False)
    path = tmp_path / "seal.p12"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"seal",
            seal_key,
            seal_certificate,
            [ca],
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    settings.PORTAL_SEAL_P12 = str(path)
    settings.PORTAL_SEAL_PASSPHRASE = PASSPHRASE
    return asn1_x509.Certificate.load(ca.public_bytes(serialization.Encoding.DER))
