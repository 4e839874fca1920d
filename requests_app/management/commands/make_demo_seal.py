"""Write a self-signed DEMO seal (requests_app.seal) to PORTAL_SEAL_P12, unless one is there.

`make run` calls it before anything else, and `make deploy-check` to give its production-like
environment a seal. A demo seal marks every receipt it seals as DEMO; production has a real one.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from requests_app.seal import demo_seal_write


class Command(BaseCommand):
    help = "Write a self-signed DEMO seal to PORTAL_SEAL_P12 if there is none."
    # The seal check would refuse to run the command that writes the seal.
    requires_system_checks: list = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--force", action="store_true", help="Replace an existing file.")

    def handle(self, *args, force: bool = False, **options) -> None:
        if not settings.PORTAL_SEAL_P12:
            raise CommandError("PORTAL_SEAL_P12 is not set: where should the seal go?")
        path = Path(settings.PORTAL_SEAL_P12)
        if path.exists() and not force:
            self.stdout.write(f"seal: {path} is there (--force replaces it)")
            return
        demo_seal_write(path, passphrase=settings.PORTAL_SEAL_PASSPHRASE)
        self.stdout.write(f"seal: wrote a self-signed DEMO seal to {path}")
