import time
import uuid

from django.core.management.base import BaseCommand, CommandError

from portal.models import Heartbeat
from portal.tasks import ping


class Command(BaseCommand):
    help = "Send a ping task through the broker and wait until a worker has run it."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=30)
        parser.add_argument("--queue", default=None)

    def handle(self, *args, timeout: float, queue: str | None, **options):
        nonce = uuid.uuid4().hex
        started = time.monotonic()
        ping.apply_async(args=[nonce], queue=queue) if queue else ping.delay(nonce)
        while time.monotonic() - started < timeout:
            if Heartbeat.objects.filter(name=f"ping:{nonce}").exists():
                Heartbeat.objects.filter(name=f"ping:{nonce}").delete()
                elapsed = time.monotonic() - started
                self.stdout.write(self.style.SUCCESS(f"worker answered in {elapsed:.2f}s"))
                return
            time.sleep(0.1)
        raise CommandError(f"no worker ran the ping within {timeout:.0f}s")
