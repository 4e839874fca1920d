from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from authorities.registry import RegistryFileError
from authorities.registry_import import registry_import


class Command(BaseCommand):
    help = (
        "Load a registry file of competent authorities (format: docs/registry.md). All or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--full",
            action="store_true",
            help="The file is the complete registry: suspend active authorities missing from it.",
        )
        parser.add_argument("--by", help="Who imports (default: the operating-system user).")

    def handle(self, *args, file: Path, full: bool, by: str | None, **options):
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        try:
            summary = registry_import(raw=raw, file_name=file.name, full=full, imported_by=by)
        except RegistryFileError as exc:
            problems = "\n".join(f"  - {p}" for p in exc.problems)
            raise CommandError(
                f"{file.name}: {len(exc.problems)} problem(s); nothing was imported:\n{problems}"
            ) from None
        for line in summary.details:
            self.stdout.write(f"  {line}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {file.name} (sha256 {summary.record.sha256[:12]}): "
                f"{summary.added} added, {summary.changed} changed, "
                f"{summary.unchanged} unchanged, {summary.suspended} suspended."
            )
        )
