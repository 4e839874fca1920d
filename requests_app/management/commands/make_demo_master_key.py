"""Write a DEMO master key (custody.py) to var/demo-master-key, unless one is there.

`make run` calls it before anything else: with DJANGO_DEBUG=1 and no PORTAL_MASTER_KEYS, the
settings read that file. Production sets PORTAL_MASTER_KEYS (docs/security.md, "Custody").
"""

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from requests_app.custody import master_key_new


class Command(BaseCommand):
    help = "Write a DEMO master key to var/demo-master-key if there is none."
    # The master key check would refuse to run the command that writes the key.
    requires_system_checks: list = []

    def handle(self, *args, **options) -> None:
        path = Path(settings.VAR_DIR) / "demo-master-key"
        if path.exists():
            self.stdout.write(f"master key: {path} is there")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as key_file:
            key_file.write(master_key_new() + "\n")
        self.stdout.write(f"master key: wrote a DEMO master key to {path}")
