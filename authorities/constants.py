"""Codes shared by the registry file, the models and the forms. docs/registry.md documents them."""

from django.db import models

# The 27 EU Member States, ISO 3166-1 alpha-2 (Greece is GR, not the EU's "EL").
EU_MEMBER_STATES: dict[str, str] = {
    "AT": "Austria",
    "BE": "Belgium",
    "BG": "Bulgaria",
    "HR": "Croatia",
    "CY": "Cyprus",
    "CZ": "Czechia",
    "DK": "Denmark",
    "EE": "Estonia",
    "FI": "Finland",
    "FR": "France",
    "DE": "Germany",
    "GR": "Greece",
    "HU": "Hungary",
    "IE": "Ireland",
    "IT": "Italy",
    "LV": "Latvia",
    "LT": "Lithuania",
    "LU": "Luxembourg",
    "MT": "Malta",
    "NL": "Netherlands",
    "PL": "Poland",
    "PT": "Portugal",
    "RO": "Romania",
    "SK": "Slovakia",
    "SI": "Slovenia",
    "ES": "Spain",
    "SE": "Sweden",
}
COUNTRY_CHOICES = sorted(EU_MEMBER_STATES.items(), key=lambda item: item[1])


class AuthorityKind(models.TextChoices):
    COURT = "court", "Court or judge"
    INVESTIGATING_JUDGE = "investigating_judge", "Investigating judge"
    PROSECUTOR = "prosecutor", "Public prosecutor"
    POLICE = "police", "Police"
    REGULATOR = "regulator", "Regulator (e.g. Digital Services Coordinator)"
    TCO_AUTHORITY = "tco_authority", "TCO competent authority"
    OTHER = "other", "Other competent authority"


class Instrument(models.TextChoices):
    EPOC = "epoc", "European Production Order (EPOC)"
    EPOC_PR = "epoc_pr", "European Preservation Order (EPOC-PR)"
    TCO_REMOVAL = "tco_removal", "Removal order for terrorist content (TCO)"
    DSA_ART9 = "dsa_art9", "Order to act against illegal content (DSA Art. 9)"
    DSA_ART10 = "dsa_art10", "Order to provide information (DSA Art. 10)"
    EMERGENCY_DISCLOSURE = "emergency_disclosure", "Emergency disclosure request"
    INQUIRY = "inquiry", "General inquiry"


class AuthorityStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    REVOKED = "revoked", "Revoked"


OUTSIDE_EU_MESSAGE = (
    "Requests from outside EU competent authorities are not processed here. "
    "Sign-up needs an official e-mail address of an EU competent authority listed in our registry."
)
