"""Risk signals shown to reviewers (../shared/BRIEF.md, "Fake emergency requests"): facts about
the officer and the request that call for a second look, never a verdict.

The signals are computed twice:
- at submission, by services.legal_request_submit in the submission's transaction, and stored
  with the request (LegalRequest.risk_snapshot, risk_signal_count for the queue's mark). What
  was true then stays visible: a later ordinary request, an account that ages past
  NEW_ACCOUNT_DAYS, or an edited IP-country file cannot hide it;
- now, when a reviewer opens the request, by the same checks with what is known now (the
  account's age today, the requests received in the 24 hours after this one as well, today's
  IP-country file), shown beside the stored ones.

A signal is a code and its parameters, never a sentence: it is rendered in the reader's
language when shown. Signals count per officer account, and with sign-up refusing e-mail
aliases one account is one mailbox; emergency volume is also counted per authority, across all
its officers, so that an attacker holding several mailboxes of one authority is still seen.
"""

import csv
import ipaddress
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.cache import cache_get, cache_set

from . import trust
from .models import LegalRequest, Status

logger = logging.getLogger(__name__)

# An account younger than this at submission is "new".
NEW_ACCOUNT_DAYS = 30
# Volumes are counted over this window, ending at the request's receipt.
VOLUME_WINDOW = timedelta(hours=24)
# More requests of any kind than this from one officer in the window is unusual.
VOLUME_THRESHOLD = 5
# More emergency requests than this from one officer in the window is unusual: an officer
# rarely has more than one life-threatening case a day.
EMERGENCY_VOLUME_OFFICER_THRESHOLD = 2
# More emergency requests than this from one authority (all its officers) in the window.
EMERGENCY_VOLUME_AUTHORITY_THRESHOLD = 5
# A closed window's figures never change (_history); a week bounds what an idle request keeps.
HISTORY_CACHE_SECONDS = 7 * 24 * 3600

MESSAGES = {
    "new_account": _("New officer account: %(days)s days old (new under %(limit)s days)."),
    "first_emergency": _("First emergency request of this officer account."),
    "emergency_volume_officer": _(
        "Emergency volume: %(count)s emergency requests from this officer in 24 hours "
        "(threshold %(threshold)s)."
    ),
    "emergency_volume_authority": _(
        "Emergency volume: %(count)s emergency requests from this authority in 24 hours, by "
        "%(officers)s officers (threshold %(threshold)s)."
    ),
    "volume": _(
        "Unusual volume: %(count)s requests from this officer in 24 hours "
        "(threshold %(threshold)s)."
    ),
    "ip_country": _(
        "Submitted from an IP address in %(country)s, not in the authority's country "
        "(%(authority_country)s)."
    ),
    # The order's signatures (requests_app/trust.py).
    "order_unsigned": _("Unsigned order: no document of the order carries a signature."),
    "signature_broken": _(
        "Broken signature on %(document)s: the signed content does not match the signature."
    ),
    "signature_changed": _("%(document)s was changed after it was signed."),
    "signature_expired": _(
        "Expired signature on %(document)s: the certificate was not valid when it signed."
    ),
    "signature_untrusted": _(
        "Unknown signer on %(document)s: its certificate authority (%(issuer)s) is not trusted."
    ),
    "signature_not_qualified": _("The signature on %(document)s is not a qualified one."),
    "signer_other_organisation": _(
        "%(document)s is signed by another organisation (%(organisation)s), not by this authority."
    ),
}


@dataclass(frozen=True)
class Signal:
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The sentence in the active language; a code this version does not know (stored by
        an older one) is shown as its code rather than hidden."""
        message = MESSAGES.get(self.code)
        if message is None:
            return self.code
        try:
            return str(message) % self.params
        except (KeyError, TypeError, ValueError):
            return f"{message} ({self.code})"

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params}


@dataclass(frozen=True)
class Snapshot:
    """The signals stored at submission."""

    computed_at: datetime | None
    signals: list[Signal]


# --- The IP-country file -----------------------------------------------------------------------


@lru_cache(maxsize=4)
def _ip_ranges(
    path: str, inode: int, mtime_ns: int, size: int
) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
    """The file's networks, parsed once per version of the file: the cache key carries the
    file's inode, modification time and size, so an edited or replaced file is read again
    without restarting the workers."""
    rows = []
    with Path(path).open(newline="") as handle:
        for row in csv.reader(handle):
            if len(row) >= 2 and not row[0].startswith("#"):
                rows.append((ipaddress.ip_network(row[0].strip()), row[1].strip().upper()))
    return rows


def ip_country(ip: str | None) -> str | None:
    """Country of an IP address from PORTAL_IP_COUNTRY_FILE (CSV: network,country), or None.
    The file is an export of a GeoIP database the operator keeps current; one os.stat per call
    notices a new version. A missing or broken file is logged and gives None: it must never
    stop a submission."""
    path = settings.PORTAL_IP_COUNTRY_FILE
    if not ip or not path:
        return None
    try:
        address = ipaddress.ip_address(ip)
        stat = os.stat(path)
        ranges = _ip_ranges(str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    except (OSError, ValueError):
        logger.exception("IP-country file %s unusable; no IP-country signal", path)
        return None
    for network, country in ranges:
        if address.version == network.version and address in network:
            return country
    return None


# --- The signals -------------------------------------------------------------------------------


def _history(
    legal_request: LegalRequest, *, received: datetime, start: datetime, until: datetime, now
) -> dict[str, Any]:
    """What the officer's and the authority's other requests say: whether this is the
    officer's first emergency, and the volumes in the window.

    Once the window has closed (now past receipt + VOLUME_WINDOW) these can no longer change,
    received_at being set once, at submission, to the time of submission: no request can
    enter a past window. The review page counts them on every view (2 ms at a million
    requests, docs/performance.md), so a closed window's figures are cached for good; an
    open window (and the snapshot at submission) is always counted."""
    settled = now is not None and now >= received + VOLUME_WINDOW
    key = (
        f"risk:history:{connection.settings_dict['NAME']}:{legal_request.pk}:{received.timestamp()}"
    )
    if settled:
        cached = cache_get(key)
        if cached is not None:
            return cached
    submitted = LegalRequest.objects.exclude(status=Status.DRAFT)
    officer_id = legal_request.officer_id
    first_emergency = False
    if legal_request.is_emergency:
        earlier = submitted.filter(officer_id=officer_id, is_emergency=True).filter(
            Q(received_at__lt=received) | Q(received_at=received, pk__lt=legal_request.pk)
        )
        first_emergency = not earlier.exclude(pk=legal_request.pk).exists()
    # Both volumes in one query: the officer's requests, and the authority's emergency
    # requests, in the window.
    by_officer = Q(officer_id=officer_id)
    by_authority = Q(authority_id=legal_request.authority_id, is_emergency=True)
    counts = submitted.filter(
        by_officer | by_authority, received_at__gt=start, received_at__lte=until
    ).aggregate(
        total=Count("pk", filter=by_officer),
        emergencies=Count("pk", filter=by_officer & Q(is_emergency=True)),
        authority_total=Count("pk", filter=by_authority),
        authority_officers=Count("officer", distinct=True, filter=by_authority),
    )
    counts["first_emergency"] = first_emergency
    if settled:
        cache_set(key, counts, HISTORY_CACHE_SECONDS)
    return counts


def compute_signals(legal_request: LegalRequest, *, now: datetime | None = None) -> list[Signal]:
    """The signals of a submitted request.

    now=None: as known at submission (the account's age at receipt, volumes in the 24 hours
    up to receipt). now given: as known now (the account's age now, volumes in the 24 hours
    before and after receipt, as far as now).

    1. New account: younger than NEW_ACCOUNT_DAYS.
    2. First emergency: an emergency request, and no emergency request of this account
       received before it (ordinary requests before it do not hide this).
    3. Volume of this officer: all requests, and emergency requests, in the window.
    4. Emergency volume of the authority, across all its officers, in the window.
    5. The submission's IP address lies outside the authority's country.
    6. The order's signatures: none, or broken, changed after signing, expired, untrusted, not
       qualified, or of another organisation (trust.signature_signals).
    """
    officer = legal_request.officer
    received = legal_request.received_at or legal_request.created_at
    start = received - VOLUME_WINDOW
    until = received if now is None else min(now, received + VOLUME_WINDOW)
    signals: list[Signal] = []

    age = (received if now is None else now) - officer.date_joined
    if age < timedelta(days=NEW_ACCOUNT_DAYS):
        signals.append(Signal("new_account", {"days": age.days, "limit": NEW_ACCOUNT_DAYS}))

    counts = _history(legal_request, received=received, start=start, until=until, now=now)
    if counts["first_emergency"]:
        signals.append(Signal("first_emergency"))
    mine = {"total": counts["total"], "emergencies": counts["emergencies"]}
    theirs = {"total": counts["authority_total"], "officers": counts["authority_officers"]}
    if mine["total"] > VOLUME_THRESHOLD:
        signals.append(Signal("volume", {"count": mine["total"], "threshold": VOLUME_THRESHOLD}))
    if mine["emergencies"] > EMERGENCY_VOLUME_OFFICER_THRESHOLD:
        signals.append(
            Signal(
                "emergency_volume_officer",
                {"count": mine["emergencies"], "threshold": EMERGENCY_VOLUME_OFFICER_THRESHOLD},
            )
        )
    if theirs["total"] > EMERGENCY_VOLUME_AUTHORITY_THRESHOLD:
        signals.append(
            Signal(
                "emergency_volume_authority",
                {
                    "count": theirs["total"],
                    "officers": theirs["officers"],
                    "threshold": EMERGENCY_VOLUME_AUTHORITY_THRESHOLD,
                },
            )
        )

    country = ip_country(legal_request.submitted_ip)
    if country and country != legal_request.authority.country:
        signals.append(
            Signal(
                "ip_country",
                {"country": country, "authority_country": legal_request.authority.country},
            )
        )
    signals.extend(Signal(code, params) for code, params in trust.signature_signals(legal_request))
    return signals


def snapshot_json(signals: list[Signal], *, computed_at: datetime) -> dict[str, Any]:
    """What services.legal_request_submit stores in LegalRequest.risk_snapshot."""
    return {
        "computed_at": computed_at.isoformat(),
        "signals": [signal.as_json() for signal in signals],
    }


def stored_snapshot(legal_request: LegalRequest) -> Snapshot | None:
    """The signals stored at submission, or None for a request submitted before they were
    stored (migration 0006 computes nothing after the fact)."""
    data = legal_request.risk_snapshot
    if not isinstance(data, dict):
        return None
    try:
        computed_at = datetime.fromisoformat(data.get("computed_at") or "")
    except (TypeError, ValueError):
        computed_at = None
    signals = [
        Signal(str(item.get("code", "")), dict(item.get("params") or {}))
        for item in data.get("signals") or []
        if isinstance(item, dict)
    ]
    return Snapshot(computed_at=computed_at, signals=signals)


def risk_signals(legal_request: LegalRequest) -> list[Signal]:
    """The signals as known now (the reviewer's screen shows them beside the stored ones)."""
    return compute_signals(legal_request, now=timezone.now())


@dataclass(frozen=True)
class ReviewPanel:
    """The verification panel's signals: stored at submission (None: not recorded), and now,
    each with whether it is new since submission (its code was not stored)."""

    at_submission: Snapshot | None
    now: list[tuple[Signal, bool]]

    @property
    def any(self) -> bool:
        return bool(self.now) or bool(self.at_submission and self.at_submission.signals)


def review_panel(legal_request: LegalRequest) -> ReviewPanel:
    stored = stored_snapshot(legal_request)
    known = {signal.code for signal in stored.signals} if stored else set()
    return ReviewPanel(
        at_submission=stored,
        now=[
            (signal, stored is not None and signal.code not in known)
            for signal in risk_signals(legal_request)
        ],
    )
