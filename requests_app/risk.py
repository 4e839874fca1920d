"""Risk signals shown to reviewers (../shared/BRIEF.md, "Fake emergency requests"): facts about
the officer and the request that call for a second look, never a verdict."""

import csv
import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext

from .models import LegalRequest, Status

NEW_ACCOUNT_DAYS = 30
VOLUME_WINDOW = timedelta(hours=24)
VOLUME_THRESHOLD = 5


@dataclass(frozen=True)
class Signal:
    code: str
    text: str


@lru_cache(maxsize=1)
def _ip_ranges(path: str) -> list[tuple[ipaddress._BaseNetwork, str]]:
    rows = []
    with Path(path).open(newline="") as handle:
        for row in csv.reader(handle):
            if len(row) >= 2 and not row[0].startswith("#"):
                rows.append((ipaddress.ip_network(row[0].strip()), row[1].strip().upper()))
    return rows


def ip_country(ip: str | None) -> str | None:
    """Country of an IP address from PORTAL_IP_COUNTRY_FILE (CSV: network,country), or None.
    The file is an export of a GeoIP database the operator keeps current."""
    path = settings.PORTAL_IP_COUNTRY_FILE
    if not ip or not path:
        return None
    address = ipaddress.ip_address(ip)
    for network, country in _ip_ranges(str(path)):
        if address.version == network.version and address in network:
            return country
    return None


def risk_signals(request: LegalRequest) -> list[Signal]:
    officer = request.officer
    received = request.received_at or request.created_at
    signals: list[Signal] = []
    age = received - officer.date_joined
    if age < timedelta(days=NEW_ACCOUNT_DAYS):
        signals.append(
            Signal(
                "new_account",
                gettext("New officer account: created %(days)s days before this.")
                % {"days": age.days},
            )
        )
    earlier = LegalRequest.objects.filter(officer=officer, received_at__lt=received).exclude(
        status=Status.DRAFT
    )
    if request.is_emergency and not earlier.exists():
        signals.append(
            Signal(
                "first_is_emergency",
                gettext("This officer's first request is an emergency request."),
            )
        )
    recent = (
        LegalRequest.objects.filter(
            officer=officer, received_at__gt=received - VOLUME_WINDOW, received_at__lte=received
        )
        .exclude(status=Status.DRAFT)
        .count()
    )
    if recent > VOLUME_THRESHOLD:
        signals.append(
            Signal(
                "volume",
                gettext(
                    "Unusual volume: %(count)s requests from this officer in 24 hours "
                    "(threshold %(threshold)s)."
                )
                % {"count": recent, "threshold": VOLUME_THRESHOLD},
            )
        )
    country = ip_country(request.submitted_ip)
    if country and country != request.authority.country:
        signals.append(
            Signal(
                "ip_country",
                gettext(
                    "Submitted from an IP address in %(country)s, not in the authority's country "
                    "(%(authority_country)s)."
                )
                % {"country": country, "authority_country": request.authority.country},
            )
        )
    return signals
