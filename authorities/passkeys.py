"""Passkeys (WebAuthn credentials of django-otp-webauthn) an account adds and removes. Each
change is recorded and e-mailed to the owner, like every other second-factor change: someone
who borrowed a session and added their own passkey is seen."""

from django.db import transaction
from django.utils.translation import gettext
from django_otp_webauthn.models import WebAuthnCredential

from .accounts import account_event_record, mail_owner
from .models import AccountEvent, User

NAME_MAX_LENGTH = 64  # django_otp.models.Device.name


@transaction.atomic
def passkey_added(*, user: User, passkey_id: int, name: str, ip: str | None) -> WebAuthnCredential:
    """Name a passkey django-otp-webauthn has just registered for `user`; record and tell."""
    passkey = WebAuthnCredential.objects.select_for_update().get(pk=passkey_id, user=user)
    passkey.name = (name.strip() or gettext("Passkey"))[:NAME_MAX_LENGTH]
    passkey.save(update_fields=["name"])
    account_event_record(
        user=user, kind=AccountEvent.Kind.PASSKEY_ADDED, ip=ip, detail=passkey.name
    )
    mail_owner(user, "passkey_changed", added=True, name=passkey.name)
    return passkey


@transaction.atomic
def passkey_remove(*, user: User, passkey_id: int, ip: str | None) -> bool:
    """Remove one of the user's own passkeys (another account's id removes nothing)."""
    passkey = WebAuthnCredential.objects.filter(pk=passkey_id, user=user).first()
    if passkey is None:
        return False
    passkey.delete()
    account_event_record(
        user=user, kind=AccountEvent.Kind.PASSKEY_REMOVED, ip=ip, detail=passkey.name
    )
    mail_owner(user, "passkey_changed", added=False, name=passkey.name)
    return True
