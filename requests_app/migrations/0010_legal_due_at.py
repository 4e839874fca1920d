"""The legal time limit beside the internal target (issue 16): LegalRequest.legal_due_at, filled
for the requests already received from their clock events by the pure function the services
call (requests_app.deadlines.legal_deadline, in settings.PORTAL_ENFORCING_STATE). It reads only
the instrument rule table, which is code, not a model: run later, against another table, it
computes what that table says, as the services then would.

The stored due_at is brought back to the legal limit where 240 hours end after it (the March
clock change, docs/instruments.md): such a request gets a new deadline version and is swept at
once, as lifecycle.recompute_due_at and alerts.deadline_changed do."""

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from requests_app import deadlines

CLOCK_KINDS = {
    "submitted": deadlines.RECEIVED,
    "clock_stopped": deadlines.CLOCK_STOPPED,
    "clock_restarted": deadlines.CLOCK_RESTARTED,
}
CHUNK = 1000


def backfill(apps, schema_editor):
    LegalRequest = apps.get_model("requests_app", "LegalRequest")
    RequestEvent = apps.get_model("requests_app", "RequestEvent")
    state = settings.PORTAL_ENFORCING_STATE
    now = timezone.now()
    received = LegalRequest.objects.filter(received_at__isnull=False).order_by("pk")
    last_pk = 0
    while True:
        chunk = list(
            received.filter(pk__gt=last_pk).only(
                "pk", "instrument", "is_emergency", "due_at", "deadline_version"
            )[:CHUNK]
        )
        if not chunk:
            return
        last_pk = chunk[-1].pk
        events: dict[int, list[deadlines.ClockEvent]] = {}
        for request_id, kind, at in RequestEvent.objects.filter(
            request_id__in=[r.pk for r in chunk], kind__in=CLOCK_KINDS
        ).values_list("request_id", "kind", "at"):
            events.setdefault(request_id, []).append(deadlines.ClockEvent(CLOCK_KINDS[kind], at))
        for legal_request in chunk:
            try:
                legal_due_at = deadlines.legal_deadline(
                    instrument=legal_request.instrument,
                    emergency=legal_request.is_emergency,
                    events=events.get(legal_request.pk, []),
                    state=state,
                )
            except KeyError:
                continue  # an instrument the rule table no longer knows: left as it is
            if legal_due_at is None:
                continue
            update = {"legal_due_at": legal_due_at}
            # The stored target as it is (an internal period may have been a setting since),
            # brought back to the legal limit if it is later.
            if legal_request.due_at is not None and legal_request.due_at > legal_due_at:
                update.update(
                    due_at=legal_due_at,
                    deadline_version=legal_request.deadline_version + 1,
                    deadline_changed_at=now,
                    next_alert_at=now,
                )
            LegalRequest.objects.filter(pk=legal_request.pk).update(**update)


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0009_fewer_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="legalrequest",
            name="legal_due_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
