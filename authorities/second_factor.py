"""Which second factor verified a session, and the actions that need a phishing-resistant one.

A TOTP code can be phished in real time: a fake login page asks for it and replays it within
the 30 seconds. A passkey (WebAuthn) signs a challenge for this site's domain only, so a page on
another domain gets nothing it can replay. settings.PORTAL_PHISHING_RESISTANT_FOR names the
actions that need a session verified with a passkey.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext
from django_otp.models import Device
from django_otp_webauthn.models import WebAuthnCredential

EMERGENCY_SUBMIT = "emergency_submit"
EMERGENCY_APPROVAL = "emergency_approval"
ADMIN = "admin"


class PasskeyRequired(PermissionDenied):
    """The action needs a session verified with a passkey, and this one was not."""

    def __init__(self, action: str):
        self.action = action
        super().__init__(passkey_required_message(action))


def requires_phishing_resistant(action: str) -> bool:
    if action not in settings.PORTAL_PHISHING_RESISTANT_ACTIONS:
        raise ImproperlyConfigured(f"Unknown phishing-resistant action: {action!r}")
    return action in settings.PORTAL_PHISHING_RESISTANT_FOR


def device_is_phishing_resistant(device, user) -> bool:
    return (
        isinstance(device, WebAuthnCredential)
        and device.confirmed
        and user is not None
        and device.user_id == user.pk
    )


def device_id_is_phishing_resistant(device_id: str, user) -> bool:
    """For services, which see the session's device as its persistent id (what django-otp keeps
    in the session and what a submission records)."""
    device = Device.from_persistent_id(device_id) if device_id else None
    return device_is_phishing_resistant(device, user)


def session_is_phishing_resistant(request: HttpRequest) -> bool:
    """The session's second factor was verified with one of the user's passkeys."""
    user = request.user
    return (
        user.is_authenticated
        and user.is_verified()
        and device_is_phishing_resistant(getattr(user, "otp_device", None), user)
    )


def session_device_id(request: HttpRequest) -> str:
    """The persistent id of the device that verified this session ("" when none): what views
    hand to services that apply the rule (device_id_is_phishing_resistant)."""
    return getattr(getattr(request.user, "otp_device", None), "persistent_id", "")


def session_may(request: HttpRequest, action: str) -> bool:
    return not requires_phishing_resistant(action) or session_is_phishing_resistant(request)


def passkeys_of(user):
    return WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("created_at")


def has_passkey(user) -> bool:
    return passkeys_of(user).exists()


def passkey_required_message(action: str) -> str:
    return {
        EMERGENCY_SUBMIT: gettext(
            "Emergency requests need a passkey: log in with your passkey to submit one."
        ),
        EMERGENCY_APPROVAL: gettext(
            "Approving an emergency disclosure needs a passkey: log in with your passkey first."
        ),
        ADMIN: gettext("Staff administration needs a passkey: log in with your passkey first."),
    }.get(action, gettext("This action needs a passkey."))
