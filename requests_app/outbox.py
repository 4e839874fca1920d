"""What the portal's database outboxes share (the webhooks, api/webhooks.py; the sealed receipts,
receipts.py): a row written in the transaction that owes the work, handed to Celery after
commit, claimed with a lease so that two workers never do it twice, and handed out again by a
beat sweep while it is due (a lost task, a Redis flush, a worker that died holding a lease).

A row has `state` (pending, then the working state while a lease is held), `send_after` (when
it is due), `lease_until` and `attempts`. The e-mail outbox (notifications.py) follows the same
rules with more states of its own (a failing row is still retried; a crashed send is flagged).
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from portal.celery import app as celery_app


def outbox_sweep_indexes(prefix: str, working: str) -> list[models.Index]:
    """The two indexes an outbox's sweep reads (requests_app.outbox.Outbox.due): pending rows
    whose time has come, and rows whose worker died holding them (the lease ran out). The
    rows done, nearly all of them, are in neither."""
    return [
        models.Index(
            fields=["send_after"], name=f"{prefix}_pending_due", condition=models.Q(state="pending")
        ),
        models.Index(
            fields=["lease_until"],
            name=f"{prefix}_{working}_lease",
            condition=models.Q(state=working),
        ),
    ]


@dataclass(frozen=True)
class Outbox:
    model: type[models.Model]
    # The Celery task that works a batch of rows, by name: the tasks call the outbox, never the
    # other way round.
    task: str
    lease: timedelta
    batch: int
    pending: str = "pending"
    working: str = "sending"

    def hand_off(self, pks: Sequence[int]) -> None:
        """Publish the work on these rows, `batch` rows a task (after commit, and from the
        sweep). Redis holds nothing the database does not: a lost task loses nothing."""
        for start in range(0, len(pks), self.batch):
            celery_app.send_task(self.task, args=[list(pks[start : start + self.batch])])

    def hand_off_after_commit(self, pks: Sequence[int]) -> None:
        # robust: a broker that is down must not undo what committed; the sweep hands the rows
        # out again.
        pks = list(pks)
        if pks:
            transaction.on_commit(lambda: self.hand_off(pks), robust=True)

    def due(self, limit: int = 500) -> list[int]:
        """Pending rows whose time has come, then working rows whose lease ran out (a dead
        worker). Each query is served by a partial index on the row's model."""
        now = timezone.now()
        manager = self.model._default_manager
        pending = manager.filter(state=self.pending, send_after__lte=now).order_by("send_after")
        stale = manager.filter(state=self.working, lease_until__lt=now)
        return [
            *pending.values_list("pk", flat=True)[:limit],
            *stale.values_list("pk", flat=True)[:limit],
        ]

    def claim(self, pks: Sequence[int]) -> list[int]:
        """Of these rows, the ones due and not held by a live lease, claimed for this worker
        (FOR UPDATE SKIP LOCKED, then one UPDATE): a lease, one attempt more. A row another
        worker is claiming at this instant is skipped, not waited for."""
        now = timezone.now()
        claimable = Q(state=self.pending, send_after__lte=now) | Q(
            state=self.working, lease_until__lt=now
        )
        manager = self.model._default_manager
        with transaction.atomic():
            claimed = list(
                manager.select_for_update(skip_locked=True)
                .filter(claimable, pk__in=list(pks))
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            manager.filter(pk__in=claimed).update(
                state=self.working, lease_until=now + self.lease, attempts=F("attempts") + 1
            )
        return claimed

    def sweep(self) -> int:
        """Beat's sweep: hand out again every row due (a lost task, a Redis flush, a worker
        that died holding a lease, a retry whose time came); how many."""
        due = self.due()
        self.hand_off(due)
        return len(due)

    def work(self, pks: Sequence[int], each: Callable, *, rows: Callable = list) -> int:
        """A worker's batch: claim the rows due and not held, then `each` of them in order
        (`rows` turns the claimed ids into what `each` takes, e.g. rows read with what they
        need); returns how many `each` counted done. Rows not reached within half the lease go
        back to pending, the attempt not counted, before another worker may take them."""
        started = time.monotonic()
        items = rows(self.claim(pks))
        done = 0
        for n, item in enumerate(items):
            if time.monotonic() - started > self.lease.total_seconds() / 2:
                self.release([getattr(rest, "pk", rest) for rest in items[n:]])
                break
            done += each(item)
        return done

    def work_all_due(self, work_batch: Callable[[list[int]], int]) -> int:
        """Every due row worked in this process, `batch` rows a call (tests use it)."""
        due = self.due()
        return sum(
            work_batch(due[start : start + self.batch]) for start in range(0, len(due), self.batch)
        )

    def release(self, pks: Sequence[int]) -> None:
        """Give back rows claimed but not reached in time: pending again, the attempt not
        counted, handed out again."""
        self.model._default_manager.filter(pk__in=list(pks), state=self.working).update(
            state=self.pending, lease_until=None, attempts=F("attempts") - 1
        )
        self.hand_off(pks)


def retry_delay(attempts: int) -> timedelta:
    """After the n-th failed attempt: 30 s, 1 min, 2 min... at most an hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** min(max(attempts - 1, 0), 7)))
