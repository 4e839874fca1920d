import functools

from django.db import models
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable


@functools.cache
def _labels(field: models.Field) -> dict:
    return dict(make_hashable(field.flatchoices))


class ChoiceLabels:
    """get_FOO_display() with each field's value -> label map built once per process.

    Django rebuilds the map (and hashes every choice) on every call: two calls a row made a
    quarter of the review queue's rendering time (make bench, docs/performance.md). The labels
    stay lazy, so each call still answers in the active language."""

    def _get_FIELD_display(self, field: models.Field):  # Django's hook behind get_FOO_display
        value = getattr(self, field.attname)
        return force_str(_labels(field).get(make_hashable(value), value), strings_only=True)
