import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp

from authorities.demo import DEMO_USERS, demo_totp_key_hex


class Command(BaseCommand):
    help = "Print the current second-factor code of each demo account (DEBUG only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("Demo codes are for development only.")
        left = 30 - int(time.time()) % 30
        for email, _, _, role, approved in DEMO_USERS:
            code = totp(bytes.fromhex(demo_totp_key_hex(email)))
            self.stdout.write(f"{code:06d}  {email:34} {role}{'' if approved else ' (unapproved)'}")
        self.stdout.write(f"(codes change in {left}s)")
