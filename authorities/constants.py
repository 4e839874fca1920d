"""Codes shared by the registry file, the models and the forms. docs/registry.md documents them."""

import zoneinfo
from functools import cache

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

# The 27 EU Member States, ISO 3166-1 alpha-2 (Greece is GR, not the EU's "EL").
EU_MEMBER_STATES: dict[str, str] = {
    "AT": gettext_noop("Austria"),
    "BE": gettext_noop("Belgium"),
    "BG": gettext_noop("Bulgaria"),
    "HR": gettext_noop("Croatia"),
    "CY": gettext_noop("Cyprus"),
    "CZ": gettext_noop("Czechia"),
    "DK": gettext_noop("Denmark"),
    "EE": gettext_noop("Estonia"),
    "FI": gettext_noop("Finland"),
    "FR": gettext_noop("France"),
    "DE": gettext_noop("Germany"),
    "GR": gettext_noop("Greece"),
    "HU": gettext_noop("Hungary"),
    "IE": gettext_noop("Ireland"),
    "IT": gettext_noop("Italy"),
    "LV": gettext_noop("Latvia"),
    "LT": gettext_noop("Lithuania"),
    "LU": gettext_noop("Luxembourg"),
    "MT": gettext_noop("Malta"),
    "NL": gettext_noop("Netherlands"),
    "PL": gettext_noop("Poland"),
    "PT": gettext_noop("Portugal"),
    "RO": gettext_noop("Romania"),
    "SK": gettext_noop("Slovakia"),
    "SI": gettext_noop("Slovenia"),
    "ES": gettext_noop("Spain"),
    "SE": gettext_noop("Sweden"),
}
# Sorted by English name; each label is translated when shown.
COUNTRY_CHOICES = [
    (code, _(name)) for code, name in sorted(EU_MEMBER_STATES.items(), key=lambda item: item[1])
]


class AuthorityKind(models.TextChoices):
    COURT = "court", _("Court or judge")
    INVESTIGATING_JUDGE = "investigating_judge", _("Investigating judge")
    PROSECUTOR = "prosecutor", _("Public prosecutor")
    POLICE = "police", _("Police")
    REGULATOR = "regulator", _("Regulator (e.g. Digital Services Coordinator)")
    TCO_AUTHORITY = "tco_authority", _("TCO competent authority")
    OTHER = "other", _("Other competent authority")


class Instrument(models.TextChoices):
    EPOC = "epoc", _("European Production Order (EPOC)")
    EPOC_PR = "epoc_pr", _("European Preservation Order (EPOC-PR)")
    TCO_REMOVAL = "tco_removal", _("Removal order for terrorist content (TCO)")
    DSA_ART9 = "dsa_art9", _("Order to act against illegal content (DSA Art. 9)")
    DSA_ART10 = "dsa_art10", _("Order to provide information (DSA Art. 10)")
    EMERGENCY_DISCLOSURE = "emergency_disclosure", _("Emergency disclosure request")
    INQUIRY = "inquiry", _("General inquiry")


class AuthorityStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    REVOKED = "revoked", _("Revoked")


OUTSIDE_EU_MESSAGE = _(
    "Requests from outside EU competent authorities are not processed here. "
    "Sign-up needs an official e-mail address of an EU competent authority listed in our registry."
)


# Each Member State's legal time (its capital's zone): the legal deadlines' calendar
# (requests_app.deadlines) and the zone a new account of its authorities starts in.
MEMBER_STATE_ZONES: dict[str, str] = {
    "AT": "Europe/Vienna",
    "BE": "Europe/Brussels",
    "BG": "Europe/Sofia",
    "CY": "Asia/Nicosia",
    "CZ": "Europe/Prague",
    "DE": "Europe/Berlin",
    "DK": "Europe/Copenhagen",
    "EE": "Europe/Tallinn",
    "ES": "Europe/Madrid",
    "FI": "Europe/Helsinki",
    "FR": "Europe/Paris",
    "GR": "Europe/Athens",
    "HR": "Europe/Zagreb",
    "HU": "Europe/Budapest",
    "IE": "Europe/Dublin",
    "IT": "Europe/Rome",
    "LT": "Europe/Vilnius",
    "LU": "Europe/Luxembourg",
    "LV": "Europe/Riga",
    "MT": "Europe/Malta",
    "NL": "Europe/Amsterdam",
    "PL": "Europe/Warsaw",
    "PT": "Europe/Lisbon",
    "RO": "Europe/Bucharest",
    "SE": "Europe/Stockholm",
    "SI": "Europe/Ljubljana",
    "SK": "Europe/Bratislava",
}


def member_state_zone(state: str) -> str:
    """The zone an account of this Member State's authorities starts in: the State's own
    when the account's choices offer it, else UTC."""
    zone = MEMBER_STATE_ZONES.get(state, "UTC")
    if zone not in dict(time_zone_choices()):
        zone = {"Asia/Nicosia": "Europe/Nicosia"}.get(zone, zone)  # the same zone, by its alias
    return zone if zone in dict(time_zone_choices()) else "UTC"


@cache
def _european_zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in zoneinfo.available_timezones() if z.startswith("Europe/")))


def time_zone_choices() -> list[tuple[str, str]]:
    """UTC and the Europe/* zones of this machine's time-zone database. A callable, so the
    migration names this function instead of copying a list that changes with tzdata."""
    return [("UTC", "UTC"), *((zone, zone.replace("_", " ")) for zone in _european_zones())]
