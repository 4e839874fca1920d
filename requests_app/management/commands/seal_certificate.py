"""Print the platform's seal certificate (and its chain) as PEM, for the authorities to trust
when they check a receipt (docs/receipts.md): `manage.py seal_certificate > portal-seal.pem`."""

from django.core.management.base import BaseCommand

from requests_app.seal import seal_certificates_pem


class Command(BaseCommand):
    help = "Print the seal certificate and its chain (PEM) that receipts are sealed with."

    def handle(self, *args, **options) -> None:
        self.stdout.write(seal_certificates_pem().decode(), ending="")
