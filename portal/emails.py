"""Rendering and sending the portal's e-mails: a subject, a text body and an HTML body per
template under templates/emails/, in the recipient's language."""

import logging
import zoneinfo
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import Context, Engine
from django.template.loader import render_to_string
from django.utils import timezone, translation

logger = logging.getLogger(__name__)


def absolute_url(path: str) -> str:
    return f"{settings.PORTAL_BASE_URL}{path}"


def local_time(value: datetime, zone: str = "UTC") -> str:
    """A time for an e-mail, in the recipient's zone and naming it ("2026-03-01 09:30 CET")."""
    try:
        tz = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    return timezone.localtime(value, tz).strftime("%Y-%m-%d %H:%M %Z")


def render_plain_text(name: str, context: dict) -> str:
    """A subject or a text body: plain text, so nothing is HTML-escaped ("O'Brien" must not
    arrive as "O&#x27;Brien"). Only the .html part, which a mail client renders, autoescapes."""
    template = Engine.get_default().get_template(name)
    return template.render(Context(context, autoescape=False))


def build_email(
    *, to: list[str], template: str, context: dict, language: str = "en", headers=None
) -> EmailMultiAlternatives:
    with translation.override(language):
        context = {"portal_url": settings.PORTAL_BASE_URL, **context}
        subject = render_plain_text(f"emails/{template}.subject.txt", context)
        text = render_plain_text(f"emails/{template}.txt", context)
        html = render_to_string(f"emails/{template}.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),  # one line: a newline in a subject is a header injection
        body=text,
        to=to,
        headers=headers or {},
    )
    message.attach_alternative(html, "text/html")
    return message


def send_now(**kwargs) -> bool:
    """Send an interactive e-mail (a link the user is waiting for). A failure is logged and
    reported to the caller, which tells the user to try again; it never loses the user's data."""
    try:
        build_email(**kwargs).send()
        return True
    except Exception:
        logger.exception("e-mail %s to %s could not be sent", kwargs.get("template"), kwargs["to"])
        return False
