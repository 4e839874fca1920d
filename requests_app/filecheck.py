"""Inspect one uploaded file by its content, in a child process under CPU, memory and wall-clock
limits, so a hostile file (a decompression bomb, a circular xref, a parser crash) can only kill
that child, never the web server. The outcome is one JSON object: {"ok": bool, "kind", "pages",
"problem", "details"}.

Two ways in, both started by uploads.py with an environment of PATH only (no secret of the
portal's ever reaches this module):
- `python -m requests_app.filecheck --serve CPU MEMORY WALL`: a checker server, one per web
  process. It loads pikepdf and Pillow once, then for each path read on stdin forks a child that
  sets the limits and checks the file, and writes the child's outcome as one line on stdout. A
  fork costs milliseconds where starting Python and importing pikepdf costs a quarter of a second
  of CPU for every upload (and most of the quick test loop's time). A request line is JSON:
  {"path": the file, "anchors": a JSON file of trust anchors, or null}. A file that names a
  /ByteRange (it may be signed) gets a second child at once, under the same limits, that only
  verifies its signatures: a spare forked ahead of the upload, with the pages a verification
  writes already copied (_Spare, prefault.py). The outcome is the one child's.
- `python -m requests_app.filecheck PATH [ANCHORS]`: one check in a fresh process (limits set by the
  caller); uploads.py falls back to it when its server is busy or gone.

Policy: PDF, PNG or JPEG only; the type is decided by the first bytes, never by the name.
A PDF must open without repair, must not be encrypted, must not carry active content (JavaScript,
launch actions, embedded files, rich media), must not run any action by itself (an open action,
or a document, page, annotation or form field trigger: a reviewer's reader would open a GoToR to
a Windows file share, or fetch a tracking URI, without a click), must have at most MAX_PAGES pages
and its streams must decompress to at most MAX_DECODED_BYTES together (a decompression bomb is
refused, not stored).

An accepted PDF's signatures are verified (requests_app/pdfsignatures.py, trusting the anchors
the web process passed in) and reported in "signatures": facts, never a refusal here; what a
missing or bad signature means is the portal's policy (requests_app/trust.py).
"""

import contextlib
import json
import mmap
import os
import re
import resource
import select
import signal
import sys
import time
import warnings
import zipfile
import zlib

MAX_PAGES = 500
MAX_DECODED_BYTES = 512 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000

PDF_MAGIC = b"%PDF-"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"

# Recognised only to name them in the error message.
OTHER_MAGIC = [
    (b"PK\x03\x04", "a ZIP archive (or Office document)"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"GIF8", "a GIF image"),
    (b"Rar!", "a RAR archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"<?xml", "an XML file"),
]

# /EF: a file specification carrying an embedded file (an attachment annotation, say).
# /3DD: 3D artwork (U3D/PRC), which carries its own JavaScript and may activate itself when
# its page opens; no legal order needs one.
ACTIVE_KEYS = {
    "/JS",
    "/JavaScript",
    "/EmbeddedFiles",
    "/EmbeddedFile",
    "/EF",
    "/RichMedia",
    "/XFA",
    "/3DD",
}
ACTIVE_ACTIONS = {"/JavaScript", "/Launch", "/ImportData", "/SubmitForm", "/RichMediaExecute"}


def sniff(head: bytes) -> str | None:
    if head.startswith(PDF_MAGIC):
        return "pdf"
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    return None


def describe(head: bytes) -> str:
    for magic, name in OTHER_MAGIC:
        if head.startswith(magic):
            return name
    lowered = head[:512].lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<script", b"<svg")):
        return "a web page or script"
    if not head:
        return "an empty file"
    return "not a PDF, PNG or JPEG"


def gettext_noop(text: str) -> str:
    """Marks a problem for the portal's translations (uploads.py shows it translated); this
    sandboxed child imports nothing from Django."""
    return text


# Actions a reader runs without a click (ISO 32000-2, 12.6.3 trigger events), by the entry that
# holds them. An /OpenAction that is a destination array (or a named destination) only scrolls
# the reader to a page of this file, so it stays; any action dictionary there is refused, whatever
# its type, as is every action in an /AA (additional actions) entry. An /A on a link or a widget
# waits for the reader's click, so it stays (a link may point anywhere, as a link in an e-mail
# does), and so does its /Next chain.
DOCUMENT_TRIGGERS = {"/WC", "/WS", "/DS", "/WP", "/DP"}
PAGE_TRIGGERS = {"/O", "/C"}
FIELD_TRIGGERS = {"/K", "/F", "/V", "/C"}
ANNOTATION_TRIGGERS = {"/E", "/X", "/D", "/U", "/Fo", "/Bl", "/PO", "/PC", "/PV", "/PI"}
# Enough for any real /Next chain; a longer (or endless, through an array) one is named by what
# the first actions do, and refused all the same.
MAX_CHAINED_ACTIONS = 64

RUNS_WHEN_OPENED = gettext_noop(
    "runs an action by itself when it is opened (%(action)s): remove it, or print to PDF, "
    "and upload again"
)
RUNS_WHEN_CLOSED = gettext_noop(
    "runs an action by itself when it is closed, saved or printed (%(action)s): remove it, "
    "or print to PDF, and upload again"
)
RUNS_WITH_A_PAGE = gettext_noop(
    "runs an action by itself when a page is opened or closed (%(action)s): remove it, "
    "or print to PDF, and upload again"
)
RUNS_WITH_AN_ANNOTATION = gettext_noop(
    "runs an action by itself when part of a page is shown, pointed at or focused "
    "(%(action)s): remove it, or print to PDF, and upload again"
)
RUNS_WITH_A_FIELD = gettext_noop(
    "runs an action by itself when a form field is filled in or recalculated (%(action)s): "
    "remove it, or print to PDF, and upload again"
)
RUNS_WITHOUT_A_CLICK = gettext_noop(
    "runs an action by itself, without a click (%(action)s): remove it, or print to PDF, "
    "and upload again"
)
# What the actions that reach out of the file do, in a reviewer's words; other types are named
# by their PDF name (GoTo, Named, Rendition...).
REACHING_OUT = {
    "/GoToR": gettext_noop("GoToR to another file, possibly on a remote server"),
    "/GoToE": gettext_noop("GoToE to an embedded or remote file"),
    "/URI": gettext_noop("URI to a web address"),
}
UNTYPED_ACTION = gettext_noop("an action without a type")
# Content a reader fetches from another file as soon as the page is shown, with no action at
# all: the same leak (a Windows share, a tracking address) as an open action.
LOADS_ANOTHER_FILE = gettext_noop(
    "loads content from another file, possibly on a remote server, when a page is shown "
    "(%(action)s): remove it, or print to PDF, and upload again"
)
EXTERNAL_STREAM = gettext_noop("a stream whose data is in another file")
REFERENCE_XOBJECT = gettext_noop("a reference XObject that shows a page of another file")


TOOK_TOO_LONG = gettext_noop("took too long to check (it may be built to hang readers)")
CHECKER_STOPPED = gettext_noop("could not be checked safely (the checker stopped)")
NEEDS_TOO_MUCH_MEMORY = gettext_noop("needs too much memory to check")


def _result(
    ok: bool,
    kind: str | None = None,
    pages: int | None = None,
    problem: str = "",
    details: dict[str, str] | None = None,
    signatures: list[dict] | None = None,
):
    """`details`: values for the %(...)s parts of `problem`, each a phrase marked for
    translation or a PDF name; `signatures`: an accepted PDF's (pdfsignatures.verify)."""
    result = {"ok": ok, "kind": kind, "pages": pages, "problem": problem, "details": details or {}}
    if signatures is not None:
        result["signatures"] = signatures
    return result


def check_pdf(path: str, data: bytes, anchors: str | None = None, *, verify: bool = True) -> dict:
    """`verify`: False when a sibling child verifies the signatures (serve); the outcome then
    says "signatures_pending" where this would have verified them."""
    import pikepdf

    # A polyglot: a valid PDF that is also a ZIP (a JAR, an Office file) or a web page.
    if zipfile.is_zipfile(path):
        return _result(
            False, "pdf", problem=gettext_noop("is also a ZIP archive (a polyglot file)")
        )
    lowered = data.lower()
    if b"<script" in lowered or b"<html" in lowered:
        return _result(
            False,
            "pdf",
            problem=gettext_noop("also contains a web page or script (a polyglot file)"),
        )
    try:
        pdf = pikepdf.open(path, attempt_recovery=False, suppress_warnings=True)
    except pikepdf.PasswordError:
        return _result(
            False, "pdf", problem=gettext_noop("is encrypted: upload it without a password")
        )
    except Exception:
        return _result(False, "pdf", problem=gettext_noop("is damaged or not a valid PDF"))
    with pdf:
        if pdf.is_encrypted:
            return _result(
                False, "pdf", problem=gettext_noop("is encrypted: upload it without a password")
            )
        if pdf.get_warnings():
            return _result(
                False, "pdf", problem=gettext_noop("is damaged (it needed repair to open)")
            )
        try:
            pages = len(pdf.pages)
        except Exception:
            return _result(
                False, "pdf", problem=gettext_noop("is damaged (its page tree is broken)")
            )
        if pages == 0:
            return _result(False, "pdf", problem=gettext_noop("has no pages"))
        if pages > MAX_PAGES:
            return _result(False, "pdf", pages, f"has {pages} pages; the limit is {MAX_PAGES}")
        active, automatic = _active_content(pdf)
        if active:
            return _result(False, "pdf", pages, f"contains active content ({active})")
        if automatic:
            problem, action = automatic
            return _result(False, "pdf", pages, problem, {"action": action})
        bomb = _decompression_problem(pdf)
        if bomb:
            return _result(False, "pdf", pages, bomb)
        # Signature fields live in the /AcroForm: a PDF without one (most uploads, and every
        # hostile file refused above) costs no signature work.
        signatures = []
        if "/AcroForm" in pdf.Root:
            if not verify:
                return _result(True, "pdf", pages, signatures=[]) | {"signatures_pending": True}
            from requests_app import pdfsignatures

            signatures = pdfsignatures.verify(data, pdfsignatures.load_anchors(anchors))
        return _result(True, "pdf", pages, signatures=signatures)


def _active_content(pdf) -> tuple[str, tuple[str, str] | None]:
    """Active content anywhere in the file (named), else the first action a reader would run
    without a click, as (problem, what the action does); active content is named first."""
    import pikepdf

    automatic = None
    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Stream):
            obj = obj.stream_dict
            if "/F" in obj:  # /F on a stream: its data is in that file, not in this one
                automatic = automatic or (LOADS_ANOTHER_FILE, EXTERNAL_STREAM)
        # Dictionaries written inside an object (an /OpenAction, a page's /AA, the catalog's
        # /Names) are not objects of their own: look into them too. Indirect ones are visited
        # by the outer loop; direct objects cannot form a cycle.
        pending = [obj]
        while pending:
            item = pending.pop()
            if isinstance(item, pikepdf.Array):
                children = list(item)
            elif isinstance(item, pikepdf.Dictionary):
                found = set(item.keys()) & ACTIVE_KEYS
                if found:
                    names = ("EmbeddedFile" if k == "/EF" else k.lstrip("/") for k in found)
                    return ", ".join(sorted(names)), None
                action = _name_text(item.get("/S"))
                if action in ACTIVE_ACTIONS:
                    return f"{action.lstrip('/')} action", None
                if "/Ref" in item and item.get("/Subtype") == pikepdf.Name.Form:
                    automatic = automatic or (LOADS_ANOTHER_FILE, REFERENCE_XOBJECT)
                automatic = automatic or _automatic_action(item)
                children = list(item.values())
            else:
                continue
            pending.extend(
                child
                for child in children
                if isinstance(child, pikepdf.Array | pikepdf.Dictionary) and not child.is_indirect
            )
    return "", automatic


def _automatic_action(item) -> tuple[str, str] | None:
    """The action `item` (any dictionary) runs by itself, as (problem, what the action does).
    Looked for in every dictionary, not only in the catalog, pages and fields a reader finds:
    an /AA anywhere is refused, so no path through the document can hide one."""
    import pikepdf

    opening = item.get("/OpenAction")
    if isinstance(opening, pikepdf.Dictionary):
        return RUNS_WHEN_OPENED, _action_described(opening)
    triggers = item.get("/AA")
    if not isinstance(triggers, pikepdf.Dictionary):
        return None
    for key, action in triggers.items():
        if isinstance(action, pikepdf.Dictionary):
            return _trigger_problem(item, key), _action_described(action)
    return None


def _trigger_problem(owner, key: str) -> str:
    import pikepdf

    if key in DOCUMENT_TRIGGERS:
        return RUNS_WHEN_CLOSED
    if owner.get("/Type") == pikepdf.Name.Page:
        return RUNS_WITH_A_PAGE if key in PAGE_TRIGGERS else RUNS_WITHOUT_A_CLICK
    if key in FIELD_TRIGGERS:
        return RUNS_WITH_A_FIELD
    if key in ANNOTATION_TRIGGERS:
        return RUNS_WITH_AN_ANNOTATION
    return RUNS_WITHOUT_A_CLICK


def _action_described(action) -> str:
    """What an action does, in words: the first action of its /Next chain that reaches out of the
    file (an innocent GoTo may chain a GoToR), else the first action's type. The chain is read
    breadth first, each indirect action once (a /Next may point back), at most
    MAX_CHAINED_ACTIONS actions."""
    import pikepdf

    kinds: list[str] = []
    seen: set[tuple[int, int]] = set()
    pending = [action]
    while pending and len(kinds) < MAX_CHAINED_ACTIONS:
        item = pending.pop(0)
        if not isinstance(item, pikepdf.Dictionary):
            continue
        if item.is_indirect:
            if item.objgen in seen:
                continue
            seen.add(item.objgen)
        kinds.append(_name_text(item.get("/S")))
        following = item.get("/Next")
        if isinstance(following, pikepdf.Array):
            pending.extend(following[: MAX_CHAINED_ACTIONS - len(kinds)])
        elif following is not None:
            pending.append(following)
    for kind in kinds:
        if kind in REACHING_OUT:
            return REACHING_OUT[kind]
    # A name from the file, shown to the reviewer: letters and digits only, and short.
    named = re.sub(r"[^A-Za-z0-9]", "", kinds[0] if kinds else "")[:32]
    return named or UNTYPED_ACTION


def _name_text(value) -> str:
    """A PDF name as text ("/GoToR"), or "" for anything else, including a name whose bytes are
    not UTF-8 (/#FF): no reader knows an action of that type."""
    import pikepdf

    if not isinstance(value, pikepdf.Name):
        return ""
    try:
        return str(value)
    except UnicodeDecodeError:
        return ""


def _decompression_problem(pdf) -> str:
    import pikepdf

    total = 0
    for obj in pdf.objects:
        if not isinstance(obj, pikepdf.Stream):
            continue
        try:
            total += _decoded_size(obj, MAX_DECODED_BYTES - total)
        except pikepdf.DataDecodingError:
            # Also how qpdf reports running out of memory (std::bad_alloc) while decoding.
            return gettext_noop(
                "has a stream that is damaged or too large to decompress (a decompression bomb)"
            )
        except pikepdf.PdfError:
            continue  # image codecs qpdf does not decode (DCT, JPX, JBIG2, CCITT)
        if total > MAX_DECODED_BYTES:
            return (
                f"decompresses to more than {MAX_DECODED_BYTES // (1024 * 1024)} MB "
                "(a decompression bomb)"
            )
    return ""


def _decoded_size(stream, budget: int) -> int:
    """The stream's decoded size, or a number over budget. FlateDecode (almost every stream, and
    the usual bomb) is inflated piece by piece and counted, never held whole; other filters are
    decoded by qpdf under the child's memory limit."""
    import pikepdf

    filters = stream.stream_dict.get("/Filter")
    chain = list(filters) if isinstance(filters, pikepdf.Array) else [filters] if filters else []
    if not all(f == pikepdf.Name.FlateDecode for f in chain):
        return len(stream.read_bytes())
    pieces = iter([stream.read_raw_bytes()])
    for _ in chain:
        pieces = _inflate(pieces)
    size = 0
    try:
        for piece in pieces:
            size += len(piece)
            if size > budget:
                break
    except zlib.error:
        pass  # damaged data: what inflated so far is what a reader would get
    return size


def _inflate(pieces):
    inflater = zlib.decompressobj()
    for piece in pieces:
        while piece and not inflater.eof:
            yield inflater.decompress(piece, 1 << 20)
            piece = inflater.unconsumed_tail


def check_image(path: str, kind: str) -> dict:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    try:
        with Image.open(path) as image:
            expected = {"png": "PNG", "jpeg": "JPEG"}[kind]
            if image.format != expected:
                return _result(False, kind, problem=gettext_noop("is not a valid image"))
            image.verify()
        with Image.open(path) as image:
            image.load()  # verify() does not decode; load() proves the pixels decode
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return _result(
            False, kind, problem=gettext_noop("is too large an image (decompression bomb)")
        )
    except Exception:
        return _result(False, kind, problem=gettext_noop("is damaged or not a valid image"))
    return _result(True, kind, 1)


def check(path: str, anchors: str | None = None, *, verify: bool = True) -> dict:
    with open(path, "rb") as handle:
        data = handle.read()
    kind = sniff(data[:16])
    if kind is None:
        return _result(False, None, problem=f"is {describe(data)}, not a PDF, PNG or JPEG")
    if kind == "pdf":
        return check_pdf(path, data, anchors, verify=verify)
    return check_image(path, kind)


def limit_resources(cpu_seconds: int, memory_bytes: int) -> None:
    """In the checking child, before it reads the file: a hostile file can exhaust only these
    budgets. No file may be written, no core dumped."""
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def checked(path: str, anchors: str | None = None, *, verify: bool = True) -> dict:
    """check(), with running out of memory (the child's limit) as an outcome."""
    try:
        return check(path, anchors, verify=verify)
    except MemoryError:
        return _result(False, problem=NEEDS_TOO_MUCH_MEMORY)


def run_limited(function, argument, *, cpu_seconds: int, memory_bytes: int, wall_seconds: float):
    """function(argument) in a forked child under the limits: its outcome (a dict), else
    TOOK_TOO_LONG when the wall clock ran out (the child is killed), else CHECKER_STOPPED when the
    child died without one (killed by its CPU limit, a crash in the parser)."""
    pid, read_end = _fork_limited(function, argument, cpu_seconds, memory_bytes)
    try:
        return _outcome(pid, read_end, time.monotonic() + wall_seconds)
    finally:
        _reap(pid)


# The server's ends of its pipes to its children (their answers, the spare's job). Every child
# closes them first: a child reading a hostile file must not read a sibling's answer, nor hand
# the spare a job of its own.
_SERVER_ENDS: set[int] = set()


def _server_end(fd: int) -> int:
    _SERVER_ENDS.add(fd)
    return fd


def _close(fd: int) -> None:
    _SERVER_ENDS.discard(fd)
    os.close(fd)


def _fork_limited(function, argument, cpu_seconds: int, memory_bytes: int) -> tuple[int, int]:
    """The child's pid and the end of the pipe its answer comes out of."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the server's loop
        try:
            os.close(read_end)
            for fd in _SERVER_ENDS:
                os.close(fd)
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)  # the server's pipes to the web process are not the child's
            os.dup2(devnull, 1)
            limit_resources(cpu_seconds, memory_bytes)
            answer = json.dumps(function(argument)).encode()
            while answer:
                answer = answer[os.write(write_end, answer) :]
            # Closed before exiting: the kernel frees the child's memory before it closes its
            # files, 1.5 ms for an unsigned PDF's child and 3.5 ms for a signed one's (every
            # page it copied), which the server need not wait for to answer (_reap).
            os.close(write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    return pid, _server_end(read_end)


def _outcome(pid: int, read_end: int, deadline: float) -> dict:
    """The child's answer, read until it closes its end of the pipe (or dies), until the
    deadline (time.monotonic()), after which the child is killed."""
    received = b""
    timed_out = False
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([read_end], [], [], remaining)[0]:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            received += chunk
    finally:
        _close(read_end)
    if timed_out:
        return _result(False, problem=TOOK_TOO_LONG)
    try:
        return json.loads(received) or _result(False, problem=CHECKER_STOPPED)
    except ValueError:
        return _result(False, problem=CHECKER_STOPPED)


def _reap(pid: int) -> None:
    """Wait for a child that answered (or was killed). It exits right after closing its pipe;
    the kill only matters to a child that would not (a parser bug turned into a loop after
    the answer): the server never waits on it longer than its exit."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _checked_request(request: dict) -> dict:
    return checked(request["path"], request.get("anchors"), verify=request.get("verify", True))


def _verified_request(request: dict) -> dict:
    """The signatures of the file alone (pdfsignatures.verify), for serve's second child."""
    from requests_app import pdfsignatures

    try:
        with open(request["path"], "rb") as handle:
            data = handle.read()
        return {
            "signatures": pdfsignatures.verify(
                data, pdfsignatures.load_anchors(request.get("anchors"))
            )
        }
    except MemoryError:
        return _result(False, problem=NEEDS_TOO_MUCH_MEMORY)


# Written in the file's own bytes by every signature that can be verified: its /ByteRange
# counts those bytes, so its dictionary is never inside a compressed object stream.
SIGNED_MARKER = b"/ByteRange"


def _may_be_signed(path: str) -> bool:
    """The file holds the name /ByteRange somewhere. A byte search: the server never parses
    an upload, its children do."""
    try:
        with (
            open(path, "rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view,
        ):
            return view.find(SIGNED_MARKER) >= 0
    except (OSError, ValueError):  # gone, unreadable or empty: the check says what it is
        return False


class _Spare:
    """A verifier forked ahead of its upload, which copies the server's pages a verification
    writes (prefault.py) while it waits for its job: a signed upload's verification then costs
    about what it costs in a warm process, not twice that (docs/performance.md). It takes one
    upload and exits, as every child does: a hostile file never reaches a process that will
    see another. Its successor is forked after the server answers, off any upload's path; a
    signed upload that finds no spare forks its verifier then, as before."""

    def __init__(self, cpu_seconds: int, memory_bytes: int):
        from requests_app import pdfsignatures, prefault

        self.limits = (cpu_seconds, memory_bytes)
        # Learnt once: which pages the warm-up's verification copies in a child of the server.
        self.pages = prefault.pages_written_by(pdfsignatures.verify_warm_up)
        self.waiting: tuple[int, int, int] | None = None  # pid, job's end, answer's end

    def replenish(self) -> None:
        if self.waiting is not None:
            return
        job_read, job_write = os.pipe()
        _server_end(job_write)
        try:
            pid, answer = _fork_limited(
                _verify_when_asked, {"job": job_read, "pages": self.pages}, *self.limits
            )
        finally:
            os.close(job_read)
        self.waiting = (pid, job_write, answer)

    def take(self, request: dict) -> tuple[int, int]:
        """A verifier of `request`'s signatures (pid, answer's end): the spare, given the
        request, or a child forked now when there is none (or it died)."""
        waiting, self.waiting = self.waiting, None
        if waiting is not None:
            pid, job, answer = waiting
            try:
                line = (json.dumps(request) + "\n").encode()
                while line:
                    line = line[os.write(job, line) :]
                return pid, answer
            except OSError:  # it died (killed by hand, say): fork a verifier instead
                _close(answer)
                _reap(pid)
            finally:
                _close(job)
        return _fork_limited(_verified_request, request, *self.limits)


def _verify_when_asked(argument: dict) -> dict | None:
    """The spare's life: copy the pages, wait for one request, verify its signatures."""
    from requests_app import prefault

    prefault.copy(argument["pages"])
    with os.fdopen(argument["job"], "rb") as job:
        line = job.readline()
    if not line:  # the server stopped before handing it an upload
        return None
    return _verified_request(json.loads(line))


def _checked_in_children(
    request: dict,
    children: list[int],
    spare: _Spare,
    cpu_seconds: int,
    memory_bytes: int,
    wall_seconds: float,
) -> dict:
    """One upload's outcome, from one limited child or, for a PDF that may be signed, two forked
    together: one verifies the signatures while the other runs every other check. With a core
    to spare, a signed upload then takes about as long as the slower of the two instead of
    their sum: pyHanko's verification alone costs more than all of an unsigned PDF's check
    (docs/performance.md, "Verifying signed orders"). Each child has the limits of the one
    child, and both answer within one wall-clock budget.

    The outcome is the one child's: the checks' refusal first (the signatures of a refused file
    are never looked at), then the verifier's failure (too long, stopped, out of memory), then
    the checks' outcome with the verifier's signatures; without an /AcroForm the checks say
    there is nothing to verify, and the verifier's answer is dropped. The children's pids are
    appended to `children`: the caller reaps them after it answers."""
    deadline = time.monotonic() + wall_seconds
    verifier = None
    if _may_be_signed(request["path"]):
        verifier = spare.take(request)
        children.append(verifier[0])
    checks = {**request, "verify": verifier is None}
    pid, read_end = _fork_limited(_checked_request, checks, cpu_seconds, memory_bytes)
    children.append(pid)
    outcome = _outcome(pid, read_end, deadline)
    if verifier is None:
        return outcome
    if not outcome.pop("signatures_pending", False):
        _close(verifier[1])
        return outcome
    verified = _outcome(*verifier, deadline)
    if "signatures" not in verified:
        return verified
    outcome["signatures"] = verified["signatures"]
    return outcome


def serve(cpu_seconds: int, memory_bytes: int, wall_seconds: float) -> None:
    """The checker server's loop: one request per line in ({"path", "anchors"}), one outcome
    per line out, until the web process closes stdin (or dies)."""
    import pikepdf  # noqa: F401 - loaded once, before any fork: what makes a check cheap
    from PIL import Image, JpegImagePlugin, PngImagePlugin  # noqa: F401

    from requests_app import pdfsignatures

    pdfsignatures.preload()
    spare = _Spare(cpu_seconds, memory_bytes)
    spare.replenish()

    for line in sys.stdin.buffer:
        request = json.loads(line)
        # The anchors file is the web process's, not the upload's: parsed here once, before the
        # fork, every child verifies against it without parsing it again.
        with contextlib.suppress(Exception):  # the child reads it again and says what fails
            pdfsignatures.load_anchors(request.get("anchors"))
        children = []
        try:
            outcome = _checked_in_children(
                request, children, spare, cpu_seconds, memory_bytes, wall_seconds
            )
            sys.stdout.write(json.dumps(outcome) + "\n")
            sys.stdout.flush()
        finally:
            # After the answer: the web process waits neither for the next spare nor for exits.
            spare.replenish()
            for pid in children:
                _reap(pid)


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in `make run` stops the web process
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.stdout.write(json.dumps(checked(sys.argv[1], (sys.argv[2:] or [None])[0])))
