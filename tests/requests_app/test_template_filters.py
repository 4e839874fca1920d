from datetime import UTC, datetime

from django.template import Context, Template
from django.utils import timezone

AT = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)


def render(value, zone: str) -> str:
    with timezone.override(zone):
        return Template("{% load portal_requests %}{{ at|to_minute }}").render(
            Context({"at": value})
        )


def test_times_in_lists_are_shown_in_the_readers_time_zone_to_the_minute():
    assert render(AT, "UTC") == "2026-07-01 22:30"
    assert render(AT, "Europe/Paris") == "2026-07-02 00:30"  # CEST: the next day
    assert render(AT, "Europe/Lisbon") == "2026-07-01 23:30"


def test_a_missing_time_is_empty_so_that_default_can_fill_it():
    assert render(None, "UTC") == ""
