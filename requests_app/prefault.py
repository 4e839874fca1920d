"""The pages a forked child will write, copied before its work arrives (Linux only; elsewhere
nothing is copied and the child copies each page as it first writes it, as any fork does).

A child forked from the checker server shares the server's memory until it writes to a page,
and CPython writes to every object it touches (reference counts, inline caches): a signature's
verification copies about 1,600 of the server's pages, one page fault each, which on this
portal's machines costs more than the verification's own work (docs/performance.md, "Verifying
signed orders"). The checker server learns once, in a child of its own, which pages a
verification copies (`pages_written_by`); a verifier forked ahead of its upload
(filecheck._Spare) copies them in a few system calls (`copy`) while it waits, not while the
officer does. Like filecheck, this module imports nothing from Django."""

import bisect
import ctypes
import errno
import json
import os
import struct

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# madvise(2): fault the range in writable, as a write to each page would (Linux 5.14).
MADV_POPULATE_WRITE = 23
# /proc/self/pagemap (Linux's Documentation/admin-guide/mm/pagemap.rst): one 64-bit entry per
# page, bit 63 "present", bit 56 "exclusively mapped" (this process's copy, not shared with
# the process it was forked from). Neither needs any privilege.
PRESENT = 1 << 63
EXCLUSIVE = 1 << 56

Ranges = list[tuple[int, int]]


def pages_written_by(function) -> Ranges:
    """The address ranges of the pages `function()` copies in a child forked from this
    process, merged; [] where pagemap cannot be read or the child fails. Only pages of this
    process's mappings as they were at the fork: memory the function maps anew is not in this
    process, and a later child maps its own."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            mapped = _writable_mappings()
            before = set(_exclusive_pages())
            function()
            copied = [
                page for page in _exclusive_pages() if page not in before and _within(page, mapped)
            ]
            answer = json.dumps(_merged(copied)).encode()
            while answer:
                answer = answer[os.write(write_end, answer) :]
        finally:
            os._exit(0)
    os.close(write_end)
    received = b""
    try:
        while chunk := os.read(read_end, 1 << 16):
            received += chunk
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    try:
        return [(int(start), int(end)) for start, end in json.loads(received)]
    except (ValueError, TypeError):
        return []


def copy(ranges: Ranges) -> int:
    """Copy the pages of `ranges` into this process now; the number of pages copied. A range
    no longer mapped is skipped; a kernel without MADV_POPULATE_WRITE copies nothing."""
    if not ranges:
        return 0
    try:
        madvise = _madvise()
    except (OSError, AttributeError):
        return 0
    copied = 0
    for start, end in ranges:
        if madvise(start, end - start, MADV_POPULATE_WRITE) == 0:
            copied += (end - start) // PAGE
            continue
        if ctypes.get_errno() == errno.EINVAL:  # the kernel does not know the advice
            break
        # Part of the range is no longer mapped (ENOMEM): the rest, page by page.
        for page in range(start, end, PAGE):
            copied += madvise(page, PAGE, MADV_POPULATE_WRITE) == 0
    return copied


def _madvise():
    libc = ctypes.CDLL(None, use_errno=True)
    madvise = libc.madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


def _writable_mappings() -> Ranges:
    """This process's private writable mappings, in address order."""
    mappings = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                if fields[1][1] == "w" and fields[1][3] == "p":
                    start, end = (int(bound, 16) for bound in fields[0].split("-"))
                    mappings.append((start, end))
    except OSError:
        return []
    return mappings


def _within(page: int, mappings: Ranges) -> bool:
    index = bisect.bisect_right(mappings, (page, float("inf"))) - 1
    return index >= 0 and mappings[index][0] <= page < mappings[index][1]


def _exclusive_pages() -> list[int]:
    """The present pages of this process's private writable mappings that are its own copy
    (no longer shared with the process it was forked from)."""
    pages = []
    try:
        with open("/proc/self/pagemap", "rb") as pagemap:
            for start, end in _writable_mappings():
                pagemap.seek(start // PAGE * 8)
                entries = pagemap.read((end - start) // PAGE * 8)
                for index, (entry,) in enumerate(struct.iter_unpack("<Q", entries)):
                    if entry & PRESENT and entry & EXCLUSIVE:
                        pages.append(start + index * PAGE)
    except OSError:
        return []
    return pages


def _merged(pages: list[int]) -> Ranges:
    ranges: list[list[int]] = []
    for page in sorted(pages):
        if ranges and ranges[-1][1] == page:
            ranges[-1][1] = page + PAGE
        else:
            ranges.append([page, page + PAGE])
    return [(start, end) for start, end in ranges]
