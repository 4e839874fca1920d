"""Reading and checking a registry file (format: docs/registry.md). Pure: no database.

`parse_registry(raw_bytes)` returns the entries or raises RegistryFileError listing every problem,
each naming the entry and the field, so a reviewer can fix the file in one pass.
"""

import json
import re
from dataclasses import dataclass
from datetime import date

from .constants import EU_MEMBER_STATES, AuthorityKind, AuthorityStatus, Instrument
from .domains import DomainError, normalise_domain

REQUIRED_KEYS = {
    "id",
    "name",
    "name_en",
    "country",
    "kind",
    "instruments",
    "domains",
    "callback_phone",
    "source",
    "status",
}
OPTIONAL_KEYS = {"status_reason", "enforcing"}
SOURCE_KEYS = {"list", "reference", "checked"}
# [0-9], not \d: \d matches any Unicode digit (Arabic-Indic, fullwidth), which no phone dials.
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Column sizes of authorities.models: longer values are refused here, naming the field.
MAX_LENGTHS = {
    "version": 100,
    "id": 40,
    "name": 300,
    "name_en": 300,
    "country": 2,
    "kind": 30,
    "callback_phone": 20,
    "status": 20,
    "status_reason": 500,
    "source.list": 200,
    "source.reference": 500,
}
REGISTRY_ID = re.compile(r"^[A-Z]{2}-[A-Z0-9][A-Z0-9-]{0,36}$")


class RegistryFileError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class RegistryEntry:
    id: str
    name: str
    name_en: str
    country: str
    kind: str
    instruments: tuple[str, ...]
    domains: tuple[str, ...]
    callback_phone: str
    source_list: str
    source_reference: str
    source_checked: date
    status: str
    status_reason: str
    enforcing: bool = False

    def authority_fields(self) -> dict:
        """The Authority model fields this entry sets (domains are rows of their own)."""
        return {
            "name": self.name,
            "name_en": self.name_en,
            "country": self.country,
            "kind": self.kind,
            "instruments": list(self.instruments),
            "callback_phone": self.callback_phone,
            "source_list": self.source_list,
            "source_reference": self.source_reference,
            "source_checked": self.source_checked,
            "status": self.status,
            "status_reason": self.status_reason,
            "enforcing": self.enforcing,
        }


@dataclass(frozen=True)
class RegistryFile:
    version: str
    entries: list[RegistryEntry]


def parse_registry(raw: bytes) -> RegistryFile:
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryFileError([f"file: not valid UTF-8 JSON ({exc})"]) from None
    if not isinstance(document, dict):
        raise RegistryFileError(["file: the top level must be an object"])
    problems: list[str] = []
    unknown = set(document) - {"version", "authorities"}
    if unknown:
        problems.append(f"file: unknown top-level keys {sorted(unknown)}")
    version = document.get("version")
    if not isinstance(version, str) or not version.strip():
        problems.append("file: 'version' must be a non-empty string")
    elif len(version.strip()) > MAX_LENGTHS["version"]:
        problems.append(f"file: 'version' is longer than {MAX_LENGTHS['version']} characters")
    items = document.get("authorities")
    if not isinstance(items, list):
        raise RegistryFileError([*problems, "file: 'authorities' must be a list"])

    entries: list[RegistryEntry] = []
    ids_seen: dict[str, int] = {}
    domain_owner: dict[str, str] = {}
    for position, item in enumerate(items, start=1):
        label = f"entry #{position}"
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            label = f"entry #{position} ({item['id']})"
        entry, entry_problems = _parse_entry(item, label)
        problems.extend(entry_problems)
        if entry is None:
            continue
        if entry.id in ids_seen:
            problems.append(f"{label}: field 'id': duplicate of entry #{ids_seen[entry.id]}")
        ids_seen.setdefault(entry.id, position)
        for domain in entry.domains:
            owner = domain_owner.setdefault(domain, entry.id)
            if owner != entry.id:
                problems.append(
                    f"{label}: field 'domains': {domain!r} is already claimed by {owner}"
                )
        entries.append(entry)
    if problems:
        raise RegistryFileError(problems)
    return RegistryFile(version=version.strip(), entries=entries)


def _parse_entry(item: object, label: str) -> tuple[RegistryEntry | None, list[str]]:
    if not isinstance(item, dict):
        return None, [f"{label}: must be an object"]
    problems: list[str] = []

    def problem(field: str, message: str) -> None:
        problems.append(f"{label}: field '{field}': {message}")

    for key in sorted(set(item) - REQUIRED_KEYS - OPTIONAL_KEYS):
        problem(key, "unknown key")
    for key in sorted(REQUIRED_KEYS - set(item)):
        problem(key, "missing")

    def text(field: str, *, required: bool = True) -> str:
        value = item.get(field, "" if not required else None)
        if not isinstance(value, str) or (required and not value.strip()):
            if field in item or not required:
                problem(field, "must be a non-empty string" if required else "must be a string")
            return ""
        value = value.strip()
        if len(value) > MAX_LENGTHS.get(field, 300):
            problem(field, f"is longer than {MAX_LENGTHS.get(field, 300)} characters")
        return value

    registry_id = text("id")
    if registry_id and not REGISTRY_ID.match(registry_id):
        problem("id", f"{registry_id!r} must look like 'FR-PNAT' (country code, dash, A-Z0-9-)")
    name, name_en = text("name"), text("name_en")
    country = text("country")
    if country and country not in EU_MEMBER_STATES:
        problem(
            "country",
            f"{country!r} is not an EU Member State (ISO 3166-1 alpha-2; Greece is GR)",
        )
    elif registry_id and country and not registry_id.startswith(country + "-"):
        problem("id", f"{registry_id!r} must start with its country code {country}-")
    kind = text("kind")
    if kind and kind not in AuthorityKind.values:
        problem("kind", f"unknown kind {kind!r}; allowed: {', '.join(AuthorityKind.values)}")

    instruments = item.get("instruments")
    if "instruments" in item:
        for message in instrument_problems(instruments):
            problem("instruments", message)
    if not isinstance(instruments, list):
        instruments = []

    domains: list[str] = []
    raw_domains = item.get("domains")
    if "domains" in item and not (isinstance(raw_domains, list) and raw_domains):
        problem("domains", "must be a non-empty list of domains")
        raw_domains = []
    for raw_domain in raw_domains or []:
        try:
            domain = normalise_domain(raw_domain)
        except DomainError as exc:
            problem("domains", f"malformed domain {raw_domain!r}: {exc}")
            continue
        if domain in domains:
            problem("domains", f"{domain!r} is listed twice")
        domains.append(domain)

    phone = text("callback_phone")
    if phone and not E164.match(phone):
        problem("callback_phone", f"{phone!r} is not an E.164 number (e.g. +33140000000)")

    source = item.get("source")
    source_list = source_reference = ""
    checked: date | None = None
    if "source" in item:
        if not isinstance(source, dict):
            problem("source", "must be an object with list, reference, checked")
        else:
            for key in sorted(set(source) - SOURCE_KEYS):
                problem(f"source.{key}", "unknown key")
            for key in sorted(SOURCE_KEYS - set(source)):
                problem(f"source.{key}", "missing")
            source_list = str(source.get("list") or "").strip()
            source_reference = str(source.get("reference") or "").strip()
            if "list" in source and not source_list:
                problem("source.list", "must be a non-empty string")
            if "reference" in source and not source_reference:
                problem("source.reference", "must be a non-empty string")
            for key, value in (("list", source_list), ("reference", source_reference)):
                if len(value) > MAX_LENGTHS[f"source.{key}"]:
                    problem(
                        f"source.{key}", f"is longer than {MAX_LENGTHS[f'source.{key}']} characters"
                    )
            checked_text = str(source.get("checked", ""))
            if "checked" in source and not re.fullmatch(
                r"[0-9]{4}-[0-9]{2}-[0-9]{2}", checked_text
            ):
                problem("source.checked", f"{source['checked']!r} is not a YYYY-MM-DD date")
            elif "checked" in source:
                try:
                    checked = date.fromisoformat(str(source["checked"]))
                except ValueError:
                    problem("source.checked", f"{source['checked']!r} is not a YYYY-MM-DD date")

    status = text("status")
    if status and status not in AuthorityStatus.values:
        problem("status", f"unknown status {status!r}; allowed: active, suspended, revoked")
    status_reason = text("status_reason", required=False) if "status_reason" in item else ""
    if status in (AuthorityStatus.SUSPENDED, AuthorityStatus.REVOKED) and not status_reason:
        problem("status_reason", f"required when status is {status}")

    enforcing = item.get("enforcing", False)
    if not isinstance(enforcing, bool):
        problem("enforcing", "must be true or false")

    if problems or checked is None:
        return None, problems
    return (
        RegistryEntry(
            id=registry_id,
            name=name,
            name_en=name_en,
            country=country,
            kind=kind,
            instruments=tuple(instruments),
            domains=tuple(domains),
            callback_phone=phone,
            source_list=source_list,
            source_reference=source_reference,
            source_checked=checked,
            status=status,
            status_reason=status_reason,
            enforcing=enforcing,
        ),
        [],
    )


def instrument_problems(instruments) -> list[str]:
    """What is wrong with an authority's instruments, in a registry file or the admin: they must
    be a list of known codes, each once (every power check reads them)."""
    if not (isinstance(instruments, list) and all(isinstance(i, str) for i in instruments)):
        return ["must be a list of instrument codes"]
    problems = [
        f"unknown instrument {code!r}" for code in instruments if code not in Instrument.values
    ]
    if len(set(instruments)) != len(instruments):
        problems.append("lists an instrument twice")
    return problems
