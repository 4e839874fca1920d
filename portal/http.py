"""Facts about the HTTP peer: the client's address behind the trusted proxies, and the language
cookie a response remembers.

Every consumer of a client address (django-axes lockouts, django-ratelimit buckets, the account
events, the access log, the submission IP behind the foreign-IP risk signal) asks `client_ip`, so
they all agree, and none of them can be steered by a header the client wrote itself.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:  # settings.py imports this module: keep its imports light
    from django.http import HttpRequest, HttpResponse

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies_parse(raw: str) -> int | tuple[str, ...]:
    """PORTAL_TRUSTED_PROXIES as written by the operator: empty (no proxy, the default), a number
    of proxy hops ("1"), or comma-separated networks and addresses ("127.0.0.1/32,10.0.0.0/8").
    Anything else stops the portal at start-up: a typo here would otherwise either trust a client's
    forged header or lump every officer under the proxy's address, both silently."""
    text = raw.strip()
    if not text:
        return 0
    if re.fullmatch(r"[0-9]+", text):  # ASCII digits only: int() would also take "١"
        return int(text)
    networks = []
    for item in text.split(","):
        try:
            # strict: "10.0.0.1/8" has host bits set, so it is a typo, not a network.
            networks.append(str(ipaddress.ip_network(item.strip(), strict=True)))
        except ValueError as error:
            raise ImproperlyConfigured(
                f"PORTAL_TRUSTED_PROXIES: {item.strip()!r} is neither a count of proxies nor "
                f"a network or address ({error})."
            ) from None
    return tuple(networks)


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item) for item in trusted)


def _address(text: str) -> Address | None:
    """A parsed hop, or None when it is not a bare IP address (garbage, "unknown", a port)."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; one client, one key.
            return address.ipv4_mapped
        if address.scope_id:
            return ipaddress.IPv6Address(int(address))  # a zone name is local, not the client
    return address


def client_ip(request: HttpRequest) -> str | None:
    """The address of the client, as far as the configured trusted proxies vouch for it.

    1. The chain of hops is every X-Forwarded-For entry, all headers in order, comma-split,
       followed by REMOTE_ADDR: the peer that really opened the connection, the only hop nobody
       can forge.
    2. With no trusted proxy configured (the default) the chain is REMOTE_ADDR alone: any client
       can send X-Forwarded-For, so believing it would let one choose its own address.
    3. Everything left of the right-most unparsable hop is dropped: no proxy we trust writes
       garbage, so whoever did is untrusted, and so is anything they claim came before them.
    4. With a count N, the N right-most hops are our proxies (REMOTE_ADDR is the last of them);
       the hop just left of them is the client. A shorter chain (a request that reached the
       portal past a proxy) gives its left-most hop.
    5. With networks, walk from the right past hops inside a trusted network; the first hop
       outside them is the client. When every hop is trusted, the left-most is the client
       (a health check from the proxy host itself, say).
    6. The answer is normalised (IPv4-mapped IPv6 as IPv4, IPv6 compressed, no zone), so the same
       client always gets the same rate-limit bucket and lockout row. None when REMOTE_ADDR is
       missing or unparsable (a Unix socket): no address is better than a guessed one.
    """
    trusted = settings.PORTAL_TRUSTED_PROXIES
    hops: list[Address | None] = []
    if trusted:
        # A WSGI server (gunicorn) joins repeated headers with ",", so this is every header's hops.
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [_address(entry) for entry in forwarded.split(",") if entry.strip()]
    hops.append(_address(request.META.get("REMOTE_ADDR", "")))
    if hops[-1] is None:
        return None
    garbage = max((i for i, hop in enumerate(hops) if hop is None), default=-1)
    chain: list[Address] = [hop for hop in hops[garbage + 1 :] if hop is not None]
    if not trusted:
        client = chain[-1]
    elif isinstance(trusted, int):
        client = chain[max(0, len(chain) - 1 - trusted)]
    else:
        networks = _networks(tuple(trusted))
        client = next(
            (hop for hop in reversed(chain) if not any(hop in net for net in networks)),
            chain[0],
        )
    return str(client)


def remember_language(response: HttpResponse, language: str) -> HttpResponse:
    """Set the language cookie (what LocaleMiddleware reads) as set_language does."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response
