import hashlib
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from authorities.demo import DEMO_PASSWORD, DEMO_USERS, demo_totp_key_hex
from authorities.models import Authority, RegistryImport, User
from authorities.registry_import import registry_import
from requests_app import roles
from requests_app.demo import load_demo_requests

DEMO_REGISTRY = Path(settings.BASE_DIR) / "docs" / "demo-registry.json"


class Command(BaseCommand):
    help = "Load the demo registry and demo accounts (idempotent; refused unless DJANGO_DEBUG=1)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("Demo accounts have published passwords: refused with DEBUG off.")
        raw = DEMO_REGISTRY.read_bytes()
        if RegistryImport.objects.filter(sha256=hashlib.sha256(raw).hexdigest()).exists():
            self.stdout.write("demo registry: already loaded")
        else:
            summary = registry_import(
                raw=raw, file_name=DEMO_REGISTRY.name, imported_by="load_demo"
            )
            self.stdout.write(
                f"demo registry: {summary.added} added, {summary.changed} changed, "
                f"{summary.unchanged} unchanged"
            )
        created = 0
        with transaction.atomic():
            for group in roles.PLATFORM_ROLES:
                Group.objects.get_or_create(name=group)
            for email, name, authority_id, role, approved in DEMO_USERS:
                user = User.objects.filter(email=email).first()
                if user is not None:
                    continue
                now = timezone.now()
                user = User.objects.create_user(
                    email=email,
                    password=DEMO_PASSWORD,
                    full_name=name,
                    authority=Authority.objects.get(pk=authority_id) if authority_id else None,
                    email_verified_at=now,
                    approved_at=now if approved else None,
                    is_staff=role == "staff",
                    is_superuser=role == "staff",
                )
                if role in roles.PLATFORM_ROLES:
                    user.groups.add(Group.objects.get(name=role))
                TOTPDevice.objects.create(
                    user=user, name="Demo key", key=demo_totp_key_hex(email), confirmed=True
                )
                created += 1
        self.stdout.write(f"demo accounts: {created} created, {len(DEMO_USERS) - created} existed")
        self.stdout.write(f"demo requests: {load_demo_requests()} submitted")
