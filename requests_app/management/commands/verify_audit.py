from django.core.management.base import BaseCommand, CommandError

from authorities.models import AccountEvent
from portal.audit_chain import chain_verify
from requests_app.models import AccessLog

CHAINS = [("audit log", AccessLog), ("account events", AccountEvent)]


class Command(BaseCommand):
    help = (
        "Check the hash chains of the access log and of the account events; report the first "
        "tampered row of each."
    )

    def handle(self, *args, **options):
        problems = []
        for name, model in CHAINS:
            checked, bad_id, why = chain_verify(model)
            if bad_id is not None:
                problems.append(
                    f"{name} TAMPERED: row {bad_id} {why} ({checked} rows before it are intact)"
                )
            else:
                self.stdout.write(self.style.SUCCESS(f"{name} intact: {checked} rows verified"))
        if problems:
            raise CommandError("; ".join(problems))
