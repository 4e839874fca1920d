"""Importing a registry file (format: registry.py, docs/registry.md) into the database, and
recording staff edits of the registry made in the admin. Each change leaves a RegistryChange."""

import getpass
import hashlib
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from .constants import AuthorityStatus
from .models import (
    Authority,
    AuthorityDomain,
    RegistryChange,
    RegistryImport,
    User,
)
from .registry import RegistryEntry, RegistryFileError, parse_registry


@dataclass
class ImportSummary:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    suspended: int = 0
    details: list[str] = field(default_factory=list)
    record: RegistryImport | None = None


def _authority_snapshot(authority: Authority) -> dict:
    values = {
        "name": authority.name,
        "name_en": authority.name_en,
        "country": authority.country,
        "kind": authority.kind,
        "instruments": sorted(authority.instruments),
        "callback_phone": authority.callback_phone,
        "source_list": authority.source_list,
        "source_reference": authority.source_reference,
        "source_checked": str(authority.source_checked),
        "status": authority.status,
        "status_reason": authority.status_reason,
        "enforcing": authority.enforcing,
    }
    values["domains"] = sorted(authority.domains.values_list("domain", flat=True))
    return values


def _entry_snapshot(entry: RegistryEntry) -> dict:
    values = entry.authority_fields()
    values["instruments"] = sorted(values["instruments"])
    values["source_checked"] = str(values["source_checked"])
    values["domains"] = sorted(entry.domains)
    return values


def _diff(old: dict, new: dict) -> dict:
    return {key: [old.get(key), new[key]] for key in new if old.get(key) != new[key]}


@transaction.atomic
def registry_import(
    *, raw: bytes, file_name: str, full: bool = False, imported_by: str | None = None
) -> ImportSummary:
    """Load a registry file. All or nothing: any problem raises RegistryFileError and the
    transaction leaves the registry as it was.

    1. Parse and check the file on its own (parse_registry).
    2. Check it against the database: a domain it gives to one authority may not belong to
       another authority that the file does not mention.
    3. Create or update each authority and its domains, recording a RegistryChange per change.
    4. With `full`, suspend active authorities missing from the file (never delete them).
    5. Record the import (who, when, SHA-256, counts).
    """
    registry = parse_registry(raw)
    imported_by = imported_by or getpass.getuser()
    now = timezone.now()
    file_ids = {entry.id for entry in registry.entries}

    foreign_domains = AuthorityDomain.objects.filter(
        domain__in=[d for entry in registry.entries for d in entry.domains]
    ).exclude(authority_id__in=file_ids)
    conflicts = [
        f"entry ({_owner_entry(registry.entries, row.domain)}): field 'domains': "
        f"{row.domain!r} is already claimed by {row.authority_id} in the registry"
        for row in foreign_domains
    ]
    if conflicts:
        raise RegistryFileError(conflicts)

    record = RegistryImport.objects.create(
        imported_at=now,
        imported_by=imported_by,
        file_name=file_name,
        sha256=hashlib.sha256(raw).hexdigest(),
        version=registry.version,
        full=full,
    )
    summary = ImportSummary(record=record)
    existing = {a.pk: a for a in Authority.objects.select_for_update().filter(pk__in=file_ids)}
    # Domains move between authorities in the file: drop them all first, then re-add per entry,
    # so the unique constraint never sees a domain on two authorities mid-import.
    old_snapshots = {pk: _authority_snapshot(a) for pk, a in existing.items()}
    AuthorityDomain.objects.filter(authority_id__in=file_ids).delete()

    for entry in registry.entries:
        authority = existing.get(entry.id)
        new_values = _entry_snapshot(entry)
        if authority is None:
            authority = Authority.objects.create(
                id=entry.id, status_changed_at=now, **entry.authority_fields()
            )
            changes = {"created": True, **{k: [None, v] for k, v in new_values.items()}}
            summary.added += 1
            summary.details.append(f"added {entry.id}")
        else:
            changes = _diff(old_snapshots[entry.id], new_values)
            if changes:
                for name, value in entry.authority_fields().items():
                    setattr(authority, name, value)
                if "status" in changes:
                    authority.status_changed_at = now
                authority.save()
                if "status" in changes and entry.status != AuthorityStatus.ACTIVE:
                    summary.suspended += 1
                    summary.details.append(f"{entry.status} {entry.id}")
                else:
                    summary.changed += 1
                    summary.details.append(f"changed {entry.id}: {', '.join(sorted(changes))}")
            else:
                summary.unchanged += 1
        AuthorityDomain.objects.bulk_create(
            AuthorityDomain(domain=d, authority=authority) for d in entry.domains
        )
        if changes:
            RegistryChange.objects.create(
                authority=authority,
                changed_at=now,
                changed_by=imported_by,
                origin=RegistryChange.Origin.IMPORT,
                registry_import=record,
                changes=changes,
            )

    if full:
        missing = Authority.objects.select_for_update().filter(status=AuthorityStatus.ACTIVE)
        for authority in missing.exclude(pk__in=file_ids):
            reason = f"Not in the full registry file {file_name} (version {registry.version})."
            authority.status = AuthorityStatus.SUSPENDED
            authority.status_reason = reason
            authority.status_changed_at = now
            authority.save(update_fields=["status", "status_reason", "status_changed_at"])
            RegistryChange.objects.create(
                authority=authority,
                changed_at=now,
                changed_by=imported_by,
                origin=RegistryChange.Origin.IMPORT,
                registry_import=record,
                changes={"status": [AuthorityStatus.ACTIVE, AuthorityStatus.SUSPENDED]},
            )
            summary.suspended += 1
            summary.details.append(f"suspended {authority.pk} (missing from the full file)")

    record.added, record.changed = summary.added, summary.changed
    record.unchanged, record.suspended = summary.unchanged, summary.suspended
    record.save(update_fields=["added", "changed", "unchanged", "suspended"])
    return summary


def _owner_entry(entries: list[RegistryEntry], domain: str) -> str:
    return next(entry.id for entry in entries if domain in entry.domains)


def registry_change_record(
    *, authority: Authority, before: dict, by: User
) -> RegistryChange | None:
    """Record a staff edit made in the admin (`before` is _authority_snapshot taken earlier, {}
    for an authority added there). Returns the change, or None when nothing changed."""
    changes = _diff(before, _admin_snapshot(authority))
    if not changes:
        return None
    if not before:
        changes = {"created": True, **changes}  # as an import records a new authority
    return RegistryChange.objects.create(
        authority=authority,
        changed_by=by.email,
        origin=RegistryChange.Origin.ADMIN,
        changes=changes,
    )


def _admin_snapshot(authority: Authority) -> dict:
    """What staff may edit in the admin: the registry's fields, and who may sign the
    authority's orders (not in the registry file, so not compared by an import)."""
    return {
        **_authority_snapshot(authority),
        "signing_identifiers": list(authority.signing_identifiers or []),
    }


authority_snapshot = _admin_snapshot
