"""Target identifiers: one per line, each validated and normalised, so reviewers and searches see
one canonical form (`+33612345678`, `@jane.doe`, `https://platform.example/p/123`, `id:12345`).
Wrong identifiers are the most common reason requests fail (Europol SIRIUS): refuse them here."""

import re
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from .models import RequestTarget

# ASCII: \d alone also matches other scripts' digits, which are not a canonical E.164 form.
E164 = re.compile(r"^\+[1-9]\d{6,14}$", re.ASCII)
USERNAME = re.compile(r"^[a-z0-9_.]{3,32}$")
MAX_TARGETS = 100


def parse_identifier(raw: str, allowed: frozenset[str]) -> tuple[str, str]:
    text = raw.strip()
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")) or lowered.split("/")[0] in _platform_hosts():
        kind, value = RequestTarget.Kind.URL, _normalise_url(text)
    elif text.lstrip("(").startswith("+") or re.fullmatch(r"[\d\s().-]{7,}", text):
        kind, value = RequestTarget.Kind.PHONE, _normalise_phone(text)
    elif lowered.startswith("id:"):
        digits = text[3:].strip()
        # isdecimal, not isdigit: int() refuses digits such as "²" that isdigit accepts.
        if not digits.isdecimal() or len(digits) > 20:
            raise ValidationError(
                gettext("“%(raw)s”: an account id is id: followed by digits.") % {"raw": raw}
            )
        kind, value = RequestTarget.Kind.ACCOUNT_ID, f"id:{int(digits)}"
    else:
        name = lowered.removeprefix("@")
        if not USERNAME.match(name):
            raise ValidationError(
                gettext(
                    "“%(raw)s” is not a username (@ then 3 to 32 letters, digits, _ or .), a "
                    "phone number in international format (+33...), an account id (id:123) or a "
                    "link to the platform."
                )
                % {"raw": raw}
            )
        kind, value = RequestTarget.Kind.USERNAME, f"@{name}"
    if kind not in allowed:
        labels = ", ".join(sorted(RequestTarget.Kind(k).label.lower() for k in allowed))
        raise ValidationError(
            gettext("“%(raw)s”: this instrument takes only: %(kinds)s.")
            % {"raw": raw, "kinds": labels}
        )
    return kind, value


def parse_targets(text: str, allowed: frozenset[str]) -> list[tuple[str, str]]:
    """All identifiers of a text box, or one ValidationError listing every bad line."""
    targets: list[tuple[str, str]] = []
    errors: list[str] = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        try:
            target = parse_identifier(line, allowed)
        except ValidationError as exc:
            errors.extend(exc.messages)
            continue
        if target not in targets:
            targets.append(target)
    if errors:
        raise ValidationError(errors)
    if len(targets) > MAX_TARGETS:
        raise ValidationError(
            gettext("At most %(max)s identifiers per request; split it.") % {"max": MAX_TARGETS}
        )
    return targets


def _platform_hosts() -> set[str]:
    return {host.lower() for host in settings.PORTAL_PLATFORM_DOMAINS}


def _normalise_phone(text: str) -> str:
    # "(0)" is the national trunk prefix some write after the country code (+33 (0)6...);
    # it is not dialled from abroad, so it is not part of the E.164 number.
    compact = re.sub(r"[\s().-]", "", text.replace("(0)", ""))
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not E164.match(compact):
        raise ValidationError(
            gettext(
                "“%(text)s” is not a phone number in international E.164 format "
                "(e.g. +33612345678)."
            )
            % {"text": text}
        )
    return compact


def _normalise_url(text: str) -> str:
    if not text.lower().startswith(("http://", "https://")):
        text = "https://" + text
    try:
        parts = urlsplit(text)
    except ValueError:  # "https://[::1": an unclosed IPv6 bracket (it was a 500), refused below
        parts = urlsplit("")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range: refused below like any other port
        port = -1
    if host not in _platform_hosts() or parts.username or parts.password or port is not None:
        hosts = ", ".join(sorted(_platform_hosts()))
        raise ValidationError(
            gettext("“%(text)s” is not a link to the platform (%(hosts)s).")
            % {"text": text, "hosts": hosts}
        )
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(("https", host, path, parts.query, ""))
