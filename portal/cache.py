"""The cache as an optimisation only: a read or write that fails (Redis down, flushed,
restarting) is logged and treated as a miss, never as an error of the page that asked.
Whatever is cached here can always be computed again from PostgreSQL."""

import logging
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)


def cache_get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception:
        logger.warning("cache unavailable: read of %s", key.split(":")[0], exc_info=True)
        return None


def cache_set(key: str, value: Any, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except Exception:
        logger.warning("cache unavailable: write of %s", key.split(":")[0], exc_info=True)
