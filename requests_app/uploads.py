"""Upload validation: size, type by content, and a parse of the file in a child process with
resource limits (requests_app/filecheck.py). docs/instruments.md documents the policy."""

import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext, gettext_noop

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


def _limit_child() -> None:
    # Runs in the child before exec: a hostile file can exhaust only these budgets.
    resource.setrlimit(resource.RLIMIT_CPU, (CHILD_CPU_SECONDS, CHILD_CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _run_checker(path: str) -> dict:
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argv, our own module
            [sys.executable, "-m", "requests_app.filecheck", path],
            capture_output=True,
            timeout=CHILD_WALL_SECONDS,
            preexec_fn=_limit_child,  # noqa: PLW1509 - no threads are started before exec
            cwd=settings.BASE_DIR,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0"},
        )
    except subprocess.TimeoutExpired:
        return {
            "ok": False,
            "problem": gettext_noop("took too long to check (it may be built to hang readers)"),
        }
    stopped = gettext_noop("could not be checked safely (the checker stopped)")
    try:
        return json.loads(completed.stdout or b"{}") or {"ok": False, "problem": stopped}
    except json.JSONDecodeError:
        return {"ok": False, "problem": stopped}


def check_upload(uploaded: UploadedFile) -> CheckedFile:
    """The checked facts of an upload, or ValidationError with a message naming the file."""
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
        outcome = _run_checker(scratch.name)
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
    )


def _scratch_dir() -> str:
    path = settings.PRIVATE_MEDIA_ROOT / "scratch"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)
