"""Upload validation: size, type by content, and a parse of the file in a child process with
resource limits (requests_app/filecheck.py). docs/instruments.md documents the policy."""

import atexit
import hashlib
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext, gettext_noop

from requests_app import filecheck

CONTENT_TYPES = {"pdf": "application/pdf", "png": "image/png", "jpeg": "image/jpeg"}
EXTENSIONS = {"pdf": {".pdf"}, "png": {".png"}, "jpeg": {".jpg", ".jpeg"}}
CHILD_CPU_SECONDS = 10
CHILD_MEMORY_BYTES = 768 * 1024 * 1024
CHILD_WALL_SECONDS = 15


@dataclass(frozen=True)
class CheckedFile:
    kind: str
    content_type: str
    pages: int | None
    sha256: str
    size: int
    # One record per embedded signature (requests_app/pdfsignatures.py), [] for none.
    signatures: list[dict] = field(default_factory=list)


def _checker_argv(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "requests_app.filecheck", *arguments]


# The checker sees PATH and nothing else of the environment: no secret key, no database URL.
def _checker_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0"}


class CheckerServer:
    """This process's checker server (filecheck.serve), started on first use and again after it
    died. One check at a time goes through it: a second thread asking at the same moment, or any
    fault of the server's (gone, garbled, silent), gets None and the caller spawns a checker of
    its own, so a fault here costs time, never a check."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._owner = os.getpid()

    def check(self, path: str, anchors: str | None = None) -> dict | None:
        if not self._lock.acquire(blocking=False):
            return None
        try:
            process = self._running()
            request = {"path": path, "anchors": anchors}
            process.stdin.write(json.dumps(request).encode() + b"\n")
            process.stdin.flush()
            # The server stops its child at CHILD_WALL_SECONDS; a silent server is stopped here.
            if not select.select([process.stdout], [], [], CHILD_WALL_SECONDS + 5)[0]:
                raise OSError("the checker server did not answer")
            return json.loads(process.stdout.readline())
        except (OSError, ValueError):
            self.stop()
            return None
        finally:
            self._lock.release()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _running(self) -> subprocess.Popen:
        if self._owner != os.getpid():  # a forked copy of this process: its pipes are not ours
            self._process, self._owner = None, os.getpid()
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(  # noqa: S603 - fixed argv, our own module
                _checker_argv(
                    "--serve",
                    str(CHILD_CPU_SECONDS),
                    str(CHILD_MEMORY_BYTES),
                    str(CHILD_WALL_SECONDS),
                ),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=settings.BASE_DIR,
                env=_checker_env(),
            )
        return self._process

    def stop(self) -> None:
        if self._process is not None and self._owner == os.getpid():
            self._process.kill()
            self._process.wait()
            self._process = None


checker_server = CheckerServer()
atexit.register(checker_server.stop)


def _limit_spawned_checker() -> None:
    # Runs in the child before exec: a hostile file can exhaust only these budgets.
    filecheck.limit_resources(CHILD_CPU_SECONDS, CHILD_MEMORY_BYTES)


def spawn_checker(path: str, anchors: str | None = None) -> dict:
    """One check in a fresh process: the fallback when the server cannot take it."""
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argv, our own module
            _checker_argv(path, *([anchors] if anchors else [])),
            capture_output=True,
            timeout=CHILD_WALL_SECONDS,
            preexec_fn=_limit_spawned_checker,  # noqa: PLW1509 - no threads are started before exec
            cwd=settings.BASE_DIR,
            env=_checker_env(),
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "problem": filecheck.TOOK_TOO_LONG}
    try:
        return json.loads(completed.stdout or b"{}") or {
            "ok": False,
            "problem": filecheck.CHECKER_STOPPED,
        }
    except json.JSONDecodeError:
        return {"ok": False, "problem": filecheck.CHECKER_STOPPED}


def _run_checker(path: str, anchors: str | None) -> dict:
    return checker_server.check(path, anchors) or spawn_checker(path, anchors)


def check_upload(uploaded: UploadedFile, *, anchors: str | None = None) -> CheckedFile:
    """The checked facts of an upload, or ValidationError with a message naming the file.
    `anchors`: the trust anchors file (trust.anchors_file()) its signatures are verified
    against; without it they are reported, none trusted."""
    name = PurePath(uploaded.name or "file").name
    limit = settings.PORTAL_MAX_UPLOAD_BYTES
    if uploaded.size is None or uploaded.size > limit:
        raise ValidationError(
            gettext("%(name)s is larger than the %(mb)s MB limit for one document.")
            % {"name": name, "mb": limit // (1024 * 1024)}
        )
    if uploaded.size == 0:
        raise ValidationError(gettext("%(name)s is empty.") % {"name": name})
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(prefix="upload-", dir=_scratch_dir()) as scratch:
        for chunk in uploaded.chunks():
            digest.update(chunk)
            scratch.write(chunk)
        scratch.flush()
        uploaded.seek(0)
        outcome = _run_checker(scratch.name, anchors)
    if not outcome.get("ok"):
        # The checker's problems are English phrases marked for translation (filecheck.py).
        problem = gettext(outcome.get("problem") or gettext_noop("could not be checked"))
        if details := outcome.get("details"):
            # The phrase's parts (what an automatic action does), each translated on its own.
            problem = problem % {key: gettext(value) for key, value in details.items()}
        raise ValidationError(gettext("%(name)s %(problem)s.") % {"name": name, "problem": problem})
    kind = outcome["kind"]
    extension = PurePath(name).suffix.lower()
    if extension not in EXTENSIONS[kind]:
        raise ValidationError(
            gettext(
                "%(name)s is named like %(extension)s but its content is %(kind)s: rename it to "
                "its real type or upload the right file."
            )
            % {
                "name": name,
                "extension": extension or gettext("a file without extension"),
                "kind": kind.upper(),
            }
        )
    return CheckedFile(
        kind=kind,
        content_type=CONTENT_TYPES[kind],
        pages=outcome.get("pages"),
        sha256=digest.hexdigest(),
        size=uploaded.size,
        signatures=outcome.get("signatures") or [],
    )


def _scratch_dir() -> str:
    path = settings.PRIVATE_MEDIA_ROOT / "scratch"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)
