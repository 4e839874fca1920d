"""Demo accounts for `make run`: known passwords and TOTP keys, so never in production."""

import base64
import hashlib

DEMO_PASSWORD = "demo-portal-2026!"  # noqa: S105 - a published demo password, refused unless DEBUG

# (e-mail, full name, registry id or None, role, approved)
DEMO_USERS = [
    ("admin@platform.example", "Ada Admin", None, "staff", True),
    ("lead@platform.example", "Lena Lead", None, "lead", True),
    ("reviewer@platform.example", "Rui Reviewer", None, "reviewer", True),
    ("auditor@platform.example", "Aude Auditor", None, "auditor", True),
    ("marie.durand@interieur.gouv.fr", "Marie Durand", "FR-OFAC", "officer", True),
    ("jonas.weber@bka.bund.de", "Jonas Weber", "DE-BKA", "officer", True),
    ("sanne.devries@om.nl", "Sanne de Vries", "NL-OM", "officer", True),
    ("pending.officer@politie.nl", "Pim Pending", "NL-POLITIE", "officer", False),
    # The enforcing authority of PORTAL_ENFORCING_STATE (IE), e-Evidence Art. 8.
    ("siobhan.murphy@justice.ie", "Siobhán Murphy", "IE-DOJ-MAED", "officer", True),
]


def demo_totp_key_hex(email: str) -> str:
    """A fixed key per demo user, so `make otp` can print the current code."""
    return hashlib.sha256(f"demo-totp:{email}".encode()).hexdigest()[:40]


def demo_totp_base32(email: str) -> str:
    return base64.b32encode(bytes.fromhex(demo_totp_key_hex(email))).decode()
