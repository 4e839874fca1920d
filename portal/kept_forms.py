"""Nothing typed is lost when a session ends (issue 17): a form posted after its session ended
(idle, too old, or its cookie gone) is kept server-side and given back to the same account once
it has logged in again, second factor included.

1. A form opts in with a hidden field (`FIELD`, `hidden_value`): the account and the form's path,
   signed. Only such forms are kept, never a login, password or code form.
2. On a POST without a live session (portal.middleware, after the CSRF check), `keep` reads that
   field, checks the signature and the path, and keeps the posted text fields (not files, not the
   CSRF token) in the database (KeptForm: Redis may be flushed at any time) under the hash of a
   random one-time token. The token goes in an HttpOnly cookie, never in a URL; the row expires
   after `KEEP_SECONDS`, and expired rows are deleted as the next form is kept.
3. On the form's page, `take` gives the fields back only to a verified session of the same
   account on the same path, once: the entry is deleted as it is read.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from portal.models import KeptForm

FIELD = "portal_kept_form"
COOKIE = "portal_kept_form"
SALT = "portal.kept_forms"
# Long enough to find a password reset mail or a colleague's phone; short enough that a typed
# request does not linger server-side.
KEEP_SECONDS = 2 * 3600
# A request form is far smaller; more than this is not a form someone typed.
MAX_CHARS = 200_000
NOT_KEPT = frozenset({"csrfmiddlewaretoken", FIELD})


@dataclass(frozen=True)
class Kept:
    data: dict[str, list[str]]
    files: list[str]  # the names of the files that were posted with it (to attach again)


def hidden_value(request: HttpRequest) -> str:
    """The value of the opt-in field on a form shown to `request.user` at `request.path`."""
    return signing.dumps({"user": request.user.pk, "path": request.path}, salt=SALT)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _owner(request: HttpRequest) -> int | None:
    """The account the posted form was shown to, if its signed field is genuine, recent and for
    this path; None otherwise."""
    try:
        signed = signing.loads(
            request.POST.get(FIELD, ""),
            salt=SALT,
            max_age=settings.SESSION_COOKIE_AGE + settings.PORTAL_SESSION_IDLE_SECONDS,
        )
    except signing.BadSignature:  # also SignatureExpired
        return None
    if not isinstance(signed, dict) or signed.get("path") != request.path:
        return None
    return signed.get("user")


def keep(request: HttpRequest, response: HttpResponse) -> bool:
    """Keep the form posted without a live session, if it opted in; True when kept (the token
    is set as a cookie on `response`, the redirect to the login page)."""
    if request.method != "POST" or FIELD not in request.POST:
        return False
    owner = _owner(request)
    if owner is None:
        return False
    data = {name: request.POST.getlist(name) for name in request.POST if name not in NOT_KEPT}
    if sum(len(value) for values in data.values() for value in values) > MAX_CHARS:
        return False
    files = [uploaded.name for name in request.FILES for uploaded in request.FILES.getlist(name)]
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    # Typed text does not linger: what expired (never taken back) goes now.
    KeptForm.objects.filter(expires_at__lte=now).delete()
    KeptForm.objects.create(
        token_hash=_token_hash(token),
        user_id=owner,
        path=request.path[:500],
        data=data,
        files=files,
        expires_at=now + timedelta(seconds=KEEP_SECONDS),
    )
    response.set_cookie(
        COOKIE,
        token,
        max_age=KEEP_SECONDS,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return True


def take(request: HttpRequest) -> Kept | None:
    """The form kept for this verified account at this path, once; None if there is none."""
    token = request.COOKIES.get(COOKIE)
    user = request.user
    if not token or not (user.is_authenticated and user.is_verified()):
        return None
    # Another account's form (a shared computer) stays for its owner until it expires. Locked
    # and deleted as it is read: two tabs cannot both take it.
    with transaction.atomic():
        entry = (
            KeptForm.objects.select_for_update()
            .filter(
                token_hash=_token_hash(token),
                user=user,
                path=request.path,
                expires_at__gt=timezone.now(),
            )
            .first()
        )
        if entry is None:
            return None
        entry.delete()
    return Kept(data=entry.data, files=entry.files)
