"""The API surge of `make bench` (issue 19): 1,000 TCO removal orders (the 1-hour clock)
submitted through /api/v1/ by 20 case systems at once, then their deadline alerts.

Driver side (`surge_run`, called by bench/run.py):

1. On the S database: 20 API clients with the submit scope, each of an officer of a distinct
   authority the registry lets issue TCO orders (portal_steps surge_clients: the API services,
   registered by the officer, approved by staff). Open surge orders of an earlier run are
   withdrawn first, so that their escalations do not fall into this one.
2. gunicorn on S (as for the pages), a Celery worker (prefork, WORKER_CONCURRENCY) and Celery
   beat with the portal's own schedule (the deadline sweep every PORTAL_DEADLINE_SWEEP_SECONDS),
   on the bench Redis, e-mail to the SMTP sink. The web's e-mails (acknowledgments, the TCO
   arrival alerts) go to the worker, as in production.
3. F: `GET /home/` as the reviewer with wrk, exactly as the pages measure it, on this server
   just before the surge.
4. The clients (a separate process, `python -m bench.surge <config.json>`: 20 threads, one
   httpx client and token each) start together and each submits 50 orders: a draft (POST
   requests/ with an Idempotency-Key), the order PDF (POST documents/), the submission (POST
   submit/ with an Idempotency-Key). Each order's whole flow and its submit call are timed; an
   order is acknowledged when the submit call answers 200 with status "submitted", a received
   time and an internal deadline. A reviewer's `GET /home/` once a second runs beside them.
5. The database is asked what it holds: every acknowledged order submitted, numbered, with its
   clock started and its sealed receipt.
6. Alerts: the TCO arrival alerts (sent at once on submission) are measured as they come. Then
   for the 50 %, 80 % and deadline alerts in turn, the orders' whole timelines are shifted back
   by one offset (portal_steps surge_shift) so that the earliest of those alerts falls due
   LEAD_SECONDS later, and beat's sweep and the worker deliver them in real time with the
   spread the submissions had. Lateness = Notification.sent_at - Notification.due_at; sent,
   distinct Message-IDs at the sink, lost and duplicated are counted, never assumed.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import psycopg

from bench.run import (
    ALERTS_QUEUE,
    BURST_SLACK_SECONDS,
    GUNICORN_WORKERS,
    PY,
    REVIEWER,
    ROOT,
    SIZES,
    SWEEP_INTERVAL_SECONDS,
    WEB_QUEUE,
    WORKER_CONCURRENCY,
    Session,
    db_url,
    log,
    lua_script,
    portal_server,
    process,
    wait_until,
    worker_command,
    wrk,
)

SIZE = "S"  # the surge's orders stay out of L's figures
CLIENTS = 20
ORDERS_PER_CLIENT = 50
WALL_TARGET_SECONDS = 600
SUBMIT_RATIO_TARGET = 4.0  # the pages' submission target against F, kept for the API's
LEAD_SECONDS = 60  # the earliest shifted alert falls due this long after the shift
# The deadline alerts measured, in the order they fall: (alert kind, threshold).
PHASES = (("fraction", 50), ("fraction", 80), ("deadline", 100))


def surge_run(bench) -> dict:
    tag = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    env = bench.env(SIZE, queue=ALERTS_QUEUE)
    left = bench.portal_step(SIZE, "surge_withdraw", queue=ALERTS_QUEUE)["withdrawn"]
    if left:
        log(f"surge: withdrew {left} open order(s) of an earlier surge")
    clients = bench.portal_step(SIZE, "surge_clients", str(CLIENTS), queue=ALERTS_QUEUE)["clients"]
    devices = bench.portal_step(SIZE, "users")
    bench.manage(SIZE, "collectstatic", "--noinput")  # the floor page's stylesheet
    with (
        process(
            worker_command("surge"),
            env=env,
            log_file=bench.workdir / "worker-surge.log",
        ),
        process(
            [PY, "-m", "celery", "-A", "portal", "beat", "--loglevel", "WARNING"],
            env=env,
            log_file=bench.workdir / "beat-surge.log",
        ),
        portal_server(bench, SIZE, queue=ALERTS_QUEUE) as base,
    ):
        bench.manage(SIZE, "worker_ping", "--timeout", "60", queue=ALERTS_QUEUE)
        _settle(bench)
        reviewer = Session(base, REVIEWER, bench.password, devices[REVIEWER])
        floor = wrk(
            f"{base}/home/",
            lua_script(bench.workdir / "surge-floor.lua", cookie=reviewer.cookie_header),
        )
        log(f"surge: F GET /home/ p95 {floor['p95_ms']} ms (p50 {floor['p50_ms']} ms)")
        config = bench.workdir / "surge-clients.json"
        config.write_text(
            json.dumps(
                {
                    "base": base,
                    "tag": tag,
                    "orders": ORDERS_PER_CLIENT,
                    "tokens": [c["token"] for c in clients],
                    "probe_cookie": reviewer.cookie_header,
                }
            )
        )
        log(f"surge: {CLIENTS} clients x {ORDERS_PER_CLIENT} TCO orders through /api/v1/")
        load_start = os.getloadavg()[0]
        done = subprocess.run(
            [PY, "-m", "bench.surge", str(config)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        config.unlink()
        if done.returncode:
            sys.stderr.write(done.stderr[-4000:])
            raise RuntimeError("the surge's clients failed")
        submissions = json.loads(done.stdout.strip().splitlines()[-1])
        submissions["load_1min"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
        log(
            f"surge: {submissions['acknowledged']} of {submissions['orders']} acknowledged in "
            f"{submissions['wall_s']} s; submit p95 {submissions['submit']['p95_ms']} ms, "
            f"whole flow p95 {submissions['flow']['p95_ms']} ms, errors {submissions['errors']}"
        )
        # What the database holds of the orders as acknowledged (before any shift).
        stored = bench.portal_step(SIZE, "surge_submitted", tag)
        log(f"surge: in the database {stored}")
        alerts = {"arrival": _alerts_live(bench, tag, submissions["acknowledged"])}
        for kind, threshold in PHASES:
            alerts[f"{kind}_{threshold}"] = _alerts_shifted(
                bench, tag, kind, threshold, submissions["acknowledged"]
            )
    withdrawn = bench.portal_step(SIZE, "surge_withdraw", tag, queue=WEB_QUEUE)["withdrawn"]
    return {
        "tag": tag,
        "database": SIZES[SIZE]["db"],
        "clients": CLIENTS,
        "orders_per_client": ORDERS_PER_CLIENT,
        "client_authorities": [c["authority"] for c in clients],
        "floor": floor,
        "submissions": submissions,
        "stored": stored,
        "alerts": alerts,
        "withdrawn_after": withdrawn,
        "settings": {
            "gunicorn_workers": GUNICORN_WORKERS,
            "celery": f"prefork, concurrency {WORKER_CONCURRENCY}, beat with the portal schedule",
            "deadline_sweep_seconds": SWEEP_INTERVAL_SECONDS,
            "lead_seconds": LEAD_SECONDS,
            "rates": "PORTAL_RATE_SUBMISSION lifted (as for the pages); PORTAL_RATE_API "
            "(3000/h per client) and PORTAL_RATE_UPLOAD (60/h per officer) as in production: "
            "a client makes 150 calls and 50 uploads",
        },
    }


def _query(sql: str, params: list) -> tuple:
    with psycopg.connect(db_url(SIZES[SIZE]["db"])) as conn:
        return conn.execute(sql, params).fetchone()


def _settle(bench) -> None:
    """What is already due in S (an earlier step's submissions, escalations) is delivered
    before the surge, so the worker's queue holds only the surge's own e-mails."""
    settled = bench.portal_step(SIZE, "settle", queue=ALERTS_QUEUE)
    if settled["swept"] or settled["handed_out"]:
        log(f"surge: {settled['swept']} request(s) due, {settled['handed_out']} e-mail(s) first")
    sql = (
        "SELECT count(*) FROM requests_app_notification WHERE state = 'sending' "
        "OR (state = 'pending' AND send_after <= now())"
    )
    wait_until(lambda: _query(sql, [])[0] == 0, 900, "surge: earlier e-mails", 1.0)


SENT_SQL = """
    SELECT count(*) FROM requests_app_notification AS n
    JOIN requests_app_legalrequest AS r ON r.id = n.request_id
    WHERE r.case_reference LIKE %s AND n.alert_kind = %s AND n.threshold = %s
      AND n.state IN ('sent', 'failed', 'cancelled')
"""


def _wait_sent(tag: str, kind: str, threshold: int, expected: int, until: float) -> None:
    """Poll (one cheap query every 2 s, not a Django process) until every alert is finished
    or the time is up; what is missing then is reported as lost."""
    params = [f"SURGE-{tag}-%", kind, threshold]
    while time.time() < until:
        if _query(SENT_SQL, params)[0] >= expected:
            return
        time.sleep(2)


def _alert_figures(bench, tag: str, kind: str, threshold: int, expected: int, sink: list) -> dict:
    report = bench.portal_step(SIZE, "surge_alerts", tag, kind, str(threshold))
    ids = set(report.pop("message_ids"))
    at_sink = [m for m in sink if m in ids]
    report.update(
        {
            "expected": expected,
            "sink_messages": len(at_sink),
            "sink_unique_message_ids": len(set(at_sink)),
            "lost": expected - len(set(at_sink)),
            "duplicated": len(at_sink) - len(set(at_sink)),
        }
    )
    log(
        f"surge: {kind} {threshold}: {report['sent']} of {expected} sent, "
        f"{report['sink_unique_message_ids']} unique at the sink, lateness p50 "
        f"{report['lateness_p50_s']} s p99 {report['lateness_p99_s']} s max "
        f"{report['lateness_max_s']} s"
    )
    return report


def _alerts_live(bench, tag: str, expected: int) -> dict:
    """The TCO arrival alerts: queued by each submission, due at its receipt, not shifted."""
    _wait_sent(tag, "arrival", 0, expected, time.time() + 600)
    return _alert_figures(bench, tag, "arrival", 0, expected, bench.smtp.snapshot())


def _alerts_shifted(bench, tag: str, kind: str, threshold: int, expected: int) -> dict:
    shift = bench.portal_step(
        SIZE, "surge_shift", tag, kind, str(threshold), str(LEAD_SECONDS), queue=ALERTS_QUEUE
    )
    log(
        f"surge: timelines shifted back {shift['offset_s']:.0f} s: {kind} {threshold} alerts "
        f"due from {shift['first_due']} to {shift['last_due']}"
    )
    load_start = os.getloadavg()[0]
    last_due = _epoch(shift["last_due"])
    # Time enough for the last to be swept and delivered, and then some: late is measured.
    _wait_sent(tag, kind, threshold, expected, last_due + 3 * SWEEP_INTERVAL_SECONDS + 300)
    report = _alert_figures(bench, tag, kind, threshold, expected, bench.smtp.snapshot())
    report["shift"] = shift
    report["load_1min"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    return report


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def targets(results: dict) -> list[dict]:
    """The surge against its targets (issue 19); empty when it was never run."""
    surge = results.get("surge")
    if not surge:
        return []
    sub = surge["submissions"]
    limit = SWEEP_INTERVAL_SECONDS + BURST_SLACK_SECONDS
    ratio = sub["submit"]["p95_ms"] / surge["floor"]["p95_ms"]
    rows = [
        {
            "target": f"{sub['orders']:,} TCO orders acknowledged (201 draft, 200 submitted, "
            "clock started)",
            "value": f"{sub['acknowledged']:,}; in the database "
            f"{surge['stored']['clock_started']:,}",
            "limit": f"{sub['orders']:,}",
            "met": sub["acknowledged"] == sub["orders"] == surge["stored"]["clock_started"],
        },
        {
            "target": "surge wall time",
            "value": sub["wall_s"],
            "limit": f"<= {WALL_TARGET_SECONDS} s",
            "met": sub["wall_s"] <= WALL_TARGET_SECONDS,
        },
        {
            "target": "surge submit call p95 / F p95",
            "value": round(ratio, 2),
            "limit": f"<= {SUBMIT_RATIO_TARGET} (the pages' submission target)",
            "met": ratio <= SUBMIT_RATIO_TARGET,
            "figures": f"{sub['submit']['p95_ms']} ms / {surge['floor']['p95_ms']} ms",
        },
    ]
    probe = sub.get("probe") or {}
    if probe.get("p95_ms"):
        # Like for like, as the pages are measured: F (the reviewer's GET /home/) asked in the
        # same queue as the 20 callers, during the surge. The row above sets 20 callers against
        # an F measured alone with wrk's 8 connections, and so mostly measures the backlog.
        during = sub["submit"]["p95_ms"] / probe["p95_ms"]
        rows.append(
            {
                "target": "surge submit call p95 / F p95 asked during the surge",
                "value": round(during, 2),
                "limit": f"<= {SUBMIT_RATIO_TARGET} (the pages' submission target)",
                "met": during <= SUBMIT_RATIO_TARGET,
                "figures": f"{sub['submit']['p95_ms']} ms / {probe['p95_ms']} ms "
                f"({probe['n']} samples of F)",
            }
        )
    for name, alert in surge["alerts"].items():
        rows.append(
            {
                "target": f"surge {name.replace('_', ' ')} alerts: p99 lateness",
                "value": alert["lateness_p99_s"],
                "limit": f"<= {limit} s (sweep interval {SWEEP_INTERVAL_SECONDS} s + "
                f"{BURST_SLACK_SECONDS} s)",
                "met": alert["lateness_p99_s"] is not None and alert["lateness_p99_s"] <= limit,
            }
        )
        rows.append(
            {
                "target": f"surge {name.replace('_', ' ')} alerts: unique at sink, lost, "
                "duplicated",
                "value": f"{alert['sink_unique_message_ids']}, {alert['lost']}, "
                f"{alert['duplicated']}",
                "limit": f"{alert['expected']}, 0, 0",
                "met": alert["lost"] == 0 and alert["duplicated"] == 0,
            }
        )
    return rows


def report_lines(results: dict) -> list[list[str]]:
    """The surge's table rows for the printed report."""
    surge = results.get("surge")
    if not surge:
        return []
    sub = surge["submissions"]
    rows = [["API surge (S)", "p50 ms", "p95 ms", "p99 ms", "max ms", "count"]]
    for key, label in (
        ("create", "POST requests/ (draft)"),
        ("upload", "POST documents/ (order PDF)"),
        ("submit", "POST submit/"),
        ("flow", "whole flow (3 calls)"),
        ("probe", "GET /home/ during the surge"),
    ):
        r = sub[key]
        rows.append(
            [label, *(f"{r[k]:.1f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")), str(r["n"])]
        )
    f = surge["floor"]
    rows.append(
        ["F GET /home/ (wrk, before)", f"{f['p50_ms']:.1f}", f"{f['p95_ms']:.1f}",
         f"{f['p99_ms']:.1f}", f"{f['max_ms']:.1f}", str(f["requests"])]
    )  # fmt: skip
    return rows


# --- The clients (a process of their own) ------------------------------------------------------


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        # Nearest rank, as wrk reports its percentiles.
        return ordered[min(len(ordered) - 1, max(0, int(-(-q * len(ordered) // 1)) - 1))]

    return {
        "n": len(ordered),
        "p50_ms": round(pick(0.50) * 1000, 1),
        "p95_ms": round(pick(0.95) * 1000, 1),
        "p99_ms": round(pick(0.99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
    }


def _order_pdf() -> bytes:
    import io

    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page()
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def clients_main(config_path: str) -> None:
    import httpx

    config = json.loads(Path(config_path).read_text())
    base, tag, orders = config["base"], config["tag"], config["orders"]
    pdf = _order_pdf()
    tokens = config["tokens"]
    # The clients, the probe and this thread start together.
    start = threading.Barrier(len(tokens) + 2)
    stop = threading.Event()
    records: list[dict] = []
    lock = threading.Lock()
    probe: list[tuple[float, int]] = []

    def client(index: int, token: str) -> None:
        with httpx.Client(
            base_url=f"{base}/api/v1/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=300,
        ) as api:
            start.wait()
            for n in range(orders):
                record = {"client": index, "n": n}
                t0 = time.perf_counter()
                try:
                    draft = api.post(
                        "requests/",
                        headers={"Idempotency-Key": str(uuid.uuid4())},
                        json={
                            "instrument": "tco_removal",
                            "case_reference": f"SURGE-{tag}-{index:02d}-{n:03d}",
                            "legal_basis": "Regulation (EU) 2021/784, Art. 3",
                            "statement_of_reasons": "Terrorist content: a call to commit an "
                            "offence under Art. 3 of Directive (EU) 2017/541.",
                            "targets": [f"https://platform.example/p/{index:02d}{n:04d}"],
                            "language": "en",
                        },
                    )
                    t1 = time.perf_counter()
                    record.update(create_s=t1 - t0, create_status=draft.status_code)
                    if draft.status_code != 201:
                        record["error"] = f"draft {draft.status_code}: {draft.text[:300]}"
                        continue
                    public_id = draft.json()["id"]
                    upload = api.post(
                        f"requests/{public_id}/documents/",
                        files={"file": ("order.pdf", pdf, "application/pdf")},
                    )
                    t2 = time.perf_counter()
                    record.update(upload_s=t2 - t1, upload_status=upload.status_code)
                    if upload.status_code != 201:
                        record["error"] = f"upload {upload.status_code}: {upload.text[:300]}"
                        continue
                    submitted = api.post(
                        f"requests/{public_id}/submit/",
                        headers={"Idempotency-Key": str(uuid.uuid4())},
                    )
                    t3 = time.perf_counter()
                    record.update(
                        submit_s=t3 - t2, flow_s=t3 - t0, submit_status=submitted.status_code
                    )
                    body = submitted.json() if submitted.status_code == 200 else {}
                    record["acknowledged"] = (
                        body.get("status") == "submitted"
                        and bool(body.get("received_at"))
                        and bool(body.get("internal_deadline"))
                    )
                    if not record["acknowledged"]:
                        record["error"] = f"submit {submitted.status_code}: {submitted.text[:300]}"
                except httpx.HTTPError as error:
                    record["error"] = repr(error)
                finally:
                    with lock:
                        records.append(record)

    def floor_probe() -> None:
        # httpx's default 5 s timeout would end the probe at the first slow page (run 1).
        with httpx.Client(
            base_url=base, headers={"Cookie": config["probe_cookie"]}, timeout=300
        ) as web:
            start.wait()
            while not stop.wait(1.0):
                t0 = time.perf_counter()
                try:
                    code = web.get("/home/").status_code
                except httpx.HTTPError:
                    code = 0
                probe.append((time.perf_counter() - t0, code))

    threads = [threading.Thread(target=client, args=(i, token)) for i, token in enumerate(tokens)]
    prober = threading.Thread(target=floor_probe)
    for thread in [*threads, prober]:
        thread.start()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    stop.set()
    prober.join()
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    errors = [r for r in records if r.get("error")]
    out = {
        "orders": len(tokens) * orders,
        "attempted": len(records),
        "acknowledged": sum(1 for r in records if r.get("acknowledged")),
        "errors": len(errors),
        "error_samples": [r["error"] for r in errors[:5]],
        "wall_s": round(wall, 1),
        "orders_per_s": round(len(records) / wall, 2),
        "create": _percentiles([r["create_s"] for r in records if "create_s" in r]),
        "upload": _percentiles([r["upload_s"] for r in records if "upload_s" in r]),
        "submit": _percentiles([r["submit_s"] for r in records if "submit_s" in r]),
        "flow": _percentiles([r["flow_s"] for r in records if "flow_s" in r]),
        "probe": _percentiles([t for t, _ in probe]),
        "probe_non_2xx": sum(1 for _, code in probe if not 200 <= code < 300),
        "statuses": {
            step: sorted({r[f"{step}_status"] for r in records if f"{step}_status" in r})
            for step in ("create", "upload", "submit")
        },
        # The clients' own CPU (20 threads and the probe): under a tenth of a core means the
        # client side was not the bottleneck on this 2-core machine.
        "client_cpu_s": round(cpu, 1),
        "client_cpu_share_of_one_core": round(cpu / wall, 3),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    clients_main(sys.argv[1])
