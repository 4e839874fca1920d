"""The browsers an account logged in with (the known-device cookie, a warning for a new one) and
the change of an account's e-mail address."""

import hashlib

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from portal.emails import absolute_url, local_time, send_now

from .accounts import InvalidLink, account_event_record, mail_owner
from .domains import MailboxError, plain_mailbox
from .models import (
    AccountEvent,
    KnownDevice,
    User,
)
from .selectors import address_belongs_to

DEVICE_COOKIE = "portal_device"
EMAIL_CHANGE_SALT = "authorities.email-change"


def device_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def login_device_seen(
    *, user: User, device_key: str | None, ip: str | None, user_agent: str
) -> str:
    """Record the browser of a completed login; return its key (new if it had none). A login
    from a browser this account never used e-mails the owner (but not the very first login)."""
    import secrets

    key = device_key or secrets.token_urlsafe(24)
    known = KnownDevice.objects.filter(user=user, key_hash=device_key_hash(key)).first()
    if known is not None:
        KnownDevice.objects.filter(pk=known.pk).update(last_seen=timezone.now(), ip_address=ip)
        return key
    first_ever = not KnownDevice.objects.filter(user=user).exists()
    KnownDevice.objects.create(
        user=user, key_hash=device_key_hash(key), user_agent=user_agent[:300], ip_address=ip
    )
    if not first_ever:
        account_event_record(
            user=user, kind=AccountEvent.Kind.NEW_DEVICE, ip=ip, detail=user_agent[:200]
        )
        when = local_time(timezone.now(), user.time_zone)
        mail_owner(user, "new_device_login", when=when, ip=ip or "unknown", agent=user_agent[:200])
    return key


def email_change_request(*, user: User, new_email: str, ip: str | None) -> None:
    """Send a confirmation link to the new address (the caller has checked a fresh second
    factor). An officer's new address must belong to the same authority in the registry, and
    be a plain mailbox, as at sign-up (an alias would be a second account of one mailbox)."""
    try:
        new_email = plain_mailbox(new_email)
    except MailboxError as problem:
        raise ValidationError(str(problem)) from None
    if User.objects.filter(email=new_email).exclude(pk=user.pk).exists() or new_email == user.email:
        raise ValidationError(gettext("This address cannot be used."))
    if user.is_officer and not address_belongs_to(new_email, user.authority_id):
        raise ValidationError(
            gettext(
                "The new address must be an official address of your authority in the registry."
            )
        )
    token = signing.dumps(
        {"u": user.pk, "old": user.email, "new": new_email}, salt=EMAIL_CHANGE_SALT
    )
    link = absolute_url(reverse("authorities:email_confirm", args=[token]))
    account_event_record(
        user=user, kind=AccountEvent.Kind.EMAIL_CHANGE_ASKED, ip=ip, detail=new_email
    )
    send_now(
        to=[new_email],
        template="email_change",
        language=user.preferred_language,
        context={"user": user, "link": link, "hours": settings.PORTAL_EMAIL_LINK_HOURS},
    )
    send_now(
        to=[user.email],
        template="email_change_notice",
        language=user.preferred_language,
        context={"user": user, "new_email": new_email},
    )


@transaction.atomic
def email_change_confirm(*, user: User, token: str, ip: str | None) -> User:
    try:
        data = signing.loads(
            token, salt=EMAIL_CHANGE_SALT, max_age=settings.PORTAL_EMAIL_LINK_HOURS * 3600
        )
    except signing.BadSignature:
        raise InvalidLink(gettext("This link is not valid or has expired.")) from None
    # Single use and bound to the account: it works only while the old address is current,
    # and while no other account has taken the new one since the link was sent (the unique
    # e-mail refused the update: an IntegrityError, a 500).
    taken = User.objects.filter(email=data.get("new")).exclude(pk=user.pk).exists()
    updated = (
        0
        if taken
        else User.objects.filter(pk=user.pk, email=data.get("old")).update(
            email=data["new"], email_verified_at=timezone.now()
        )
    )
    if data.get("u") != user.pk or updated != 1:
        raise InvalidLink(gettext("This link is not valid any more."))
    account_event_record(
        user=user,
        kind=AccountEvent.Kind.EMAIL_CHANGED,
        ip=ip,
        detail=f"{data['old']} -> {data['new']}",
    )
    user.refresh_from_db()
    return user
