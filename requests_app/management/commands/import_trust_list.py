from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from requests_app.trust import TrustListError, import_trusted_list


class Command(BaseCommand):
    help = (
        "Import a national EU trusted list (ETSI TS 119 612 XML): its qualified CAs (CA/QC, "
        "granted) become trust anchors of signed orders (docs/security.md). All or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        try:
            trusted_list = import_trusted_list(data=data, file_name=file.name)
        except TrustListError as exc:
            raise CommandError(f"{file.name} {exc}; nothing was imported.") from None
        count = trusted_list.cas.count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {file.name} (sha256 {trusted_list.sha256[:12]}): "
                f"{trusted_list.territory} list #{trusted_list.sequence_number} issued "
                f"{trusted_list.issued_at:%Y-%m-%d %H:%M} UTC, {count} qualified CA "
                f"certificate(s) in force."
            )
        )
