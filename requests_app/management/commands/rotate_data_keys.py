"""Re-wrap every stored file's data key with the newest master key (docs/security.md, "Custody:
encryption at rest and purge"). The files are not touched. Put the new key first in
PORTAL_MASTER_KEYS, keep the old ones after it, run this, then remove the old ones.
"""

from django.core.management.base import BaseCommand

from requests_app.retention import data_keys_rotate


class Command(BaseCommand):
    help = "Re-wrap every data key with the newest key of PORTAL_MASTER_KEYS."

    def handle(self, *args, **options) -> None:
        count = data_keys_rotate()
        self.stdout.write(f"rotate_data_keys: {count} data keys re-wrapped with the newest key")
