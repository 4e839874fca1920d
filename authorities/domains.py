"""E-mail domains: the one place that decides whether an address belongs to a registry domain.

Deliberate choices (each tested in tests/authorities/test_domains.py):
- Case is folded: `Officer@INTERIEUR.GOUV.FR` is `interieur.gouv.fr`.
- A trailing dot is refused, not stripped: no official address is written that way.
- Any non-ASCII character is refused: registry domains are ASCII, so an internationalised domain can
  only be a look-alike (`іnterieur.gouv.fr` with a Cyrillic і). Punycode (`xn--`) labels are ASCII
  and only match if the registry lists exactly that label.
- A match is the registry domain itself or a subdomain of it, on a label boundary:
  `police.interieur.gouv.fr` matches `interieur.gouv.fr`; `interieur.gouv.fr.example.com` and
  `xinterieur.gouv.fr` do not.
- An officer's address is a plain mailbox (plain_mailbox): no sub-address (`marie+x@`), no quoted
  local part (`"marie"@`, `"evil@attacker.example"@`), one `@`, and a local part of ASCII
  letters, digits, dots, hyphens, underscores and apostrophes. Each alias of one mailbox would
  otherwise be a separate account with its own, fresh risk signals (tested in
  tests/authorities/test_signup_takeover.py).
"""

import re

from django.utils.translation import gettext_lazy

# \Z, not $: $ also matches before a final newline, which would let "gouv\n" pass as a label.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


class DomainError(ValueError):
    pass


class MailboxError(ValueError):
    """An address that is not the plain form of one mailbox; str() is the message to show."""


PLAIN_MAILBOX_MESSAGE = gettext_lazy(
    "Use your plain official address, without a +tag, quotes or other special characters."
)
# Dot-separated words of the characters real names need. Everything else Django's EmailValidator
# accepts goes: `+` (sub-addressing on most mail servers), `=`, `%`, `!`, `/` (old routing and
# other servers' tag separators), quotes, and any non-ASCII letter (`ſ` and the Kelvin sign pass
# its case-insensitive [A-Z]). A hyphen stays: too many names have one to refuse it.
_PLAIN_LOCAL_PART = re.compile(r"^[a-z0-9_'-]+(?:\.[a-z0-9_'-]+)*\Z")


def normalise_domain(value: str) -> str:
    """Return the canonical (lower-case ASCII) form of a domain, or raise DomainError."""
    if not isinstance(value, str) or not value:
        raise DomainError("is empty")
    if value != value.strip():
        raise DomainError("has surrounding spaces")
    if not value.isascii():
        raise DomainError("contains non-ASCII characters (write IDN domains in punycode)")
    domain = value.lower()
    if domain.endswith("."):
        raise DomainError("ends with a dot")
    if len(domain) > 253:
        raise DomainError("is longer than 253 characters")
    labels = domain.split(".")
    if len(labels) < 2:
        raise DomainError("needs at least two labels (e.g. justice.fr)")
    for label in labels:
        if not _LABEL.match(label):
            raise DomainError(f"has an invalid label {label!r}")
    if labels[-1].isdigit():
        raise DomainError("looks like an IP address")
    return domain


def email_domain(email: str) -> str:
    """The normalised domain of an e-mail address, or DomainError."""
    if not isinstance(email, str) or email.count("@") < 1:
        raise DomainError("is not an e-mail address")
    return normalise_domain(email.rsplit("@", 1)[1])


def domain_matches(candidate: str, registry_domain: str) -> bool:
    return candidate == registry_domain or candidate.endswith("." + registry_domain)


def candidate_registry_domains(domain: str) -> list[str]:
    """The domain and each parent with two labels or more, most specific first: the keys to look
    up in the registry (`a.b.gouv.fr` -> [`a.b.gouv.fr`, `b.gouv.fr`, `gouv.fr`])."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def plain_mailbox(email: str) -> str:
    """The lower-case form of an address that names one mailbox plainly, or MailboxError.
    Only the local part is judged here; the domain is the registry's business (email_domain)."""
    if not isinstance(email, str) or email.count("@") != 1:
        raise MailboxError(PLAIN_MAILBOX_MESSAGE)
    address = email.strip()
    local = address.split("@", 1)[0]
    # ASCII before folding case: "\u212a".lower() is "k".
    if not local.isascii() or not _PLAIN_LOCAL_PART.match(local.lower()):
        raise MailboxError(PLAIN_MAILBOX_MESSAGE)
    return address.lower()
