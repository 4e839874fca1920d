from django.core.management.base import BaseCommand, CommandError

from requests_app.review import audit_chain_verify


class Command(BaseCommand):
    help = "Check the hash chain of the access log; report the first tampered row."

    def handle(self, *args, **options):
        checked, bad_id, why = audit_chain_verify()
        if bad_id is not None:
            raise CommandError(
                f"audit log TAMPERED: row {bad_id} {why} ({checked} rows before it are intact)"
            )
        self.stdout.write(self.style.SUCCESS(f"audit log intact: {checked} rows verified"))
