"""Custody of the files the portal holds for a request: the officers' documents (Attachment) and
the produced data (ProducedData), the personal data of the people under investigation
(docs/security.md, "Custody: encryption at rest and purge").

Encrypted at rest. Each file has its own random 256-bit data key; the bytes on disk are
AES-256-GCM in segments of 64 KiB, so that neither an upload nor a download ever holds a whole
file. The data key is stored on the row wrapped (Fernet) by the master keys of the environment
(PORTAL_MASTER_KEYS, newest first): `manage.py rotate_data_keys` re-wraps every data key with the
newest one without touching a file. The platform's own sealed documents (receipts, notices,
manifests) are not personal data of the investigated and stay in clear.

The stored format: a header (magic, version, an 8-byte random nonce prefix), then the segments,
each its ciphertext and 16-byte tag. The nonce of segment i is prefix || i (4 bytes), and its
associated data is the header, i and a last-segment flag: a segment moved, dropped or cut off
the end fails its tag, as does any byte changed (the streaming AEAD construction of Hoang,
Reyhanitabar, Rogaway and Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
Misuse-Resistance", as Tink's AES-GCM-HKDF streaming does it, with a key per file instead of a
key derived per file).
"""

import os
import struct
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MAGIC = b"PCE1"  # portal custody encryption, version 1
PREFIX_BYTES = 8
HEADER_BYTES = len(MAGIC) + PREFIX_BYTES
SEGMENT_BYTES = 64 * 1024
TAG_BYTES = 16
MAX_SEGMENTS = 2**32  # the counter's 4 bytes


class Tampered(Exception):
    """The stored bytes are not those written (a tag does not verify), or the file has no key."""


# --- The master keys ---------------------------------------------------------------------------


def master_keys() -> MultiFernet:
    """PORTAL_MASTER_KEYS as a MultiFernet: the first wraps, any of them unwraps."""
    keys = settings.PORTAL_MASTER_KEYS
    if not keys:
        raise ImproperlyConfigured(
            "PORTAL_MASTER_KEYS is not set: no file can be stored or read (docs/security.md)."
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as error:
        raise ImproperlyConfigured(
            f"PORTAL_MASTER_KEYS: each key must be a Fernet key ({error})."
        ) from error


def master_key_new() -> str:
    return Fernet.generate_key().decode()


def data_key_wrap(data_key: bytes) -> str:
    return master_keys().encrypt(data_key).decode()


def data_key_unwrap(wrapped: str) -> bytes:
    if not wrapped:
        raise Tampered("the file has no data key")
    try:
        return master_keys().decrypt(wrapped.encode())
    except InvalidToken as error:
        raise Tampered("no master key unwraps the data key") from error


def data_key_rewrap(wrapped: str) -> str:
    """The same data key wrapped by the newest master key (MultiFernet.rotate)."""
    return master_keys().rotate(wrapped.encode()).decode()


# --- The segments ------------------------------------------------------------------------------


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def _associated(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">I?", index, last)


def _segments(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """The plaintext cut into SEGMENT_BYTES pieces, each with whether it is the last (an empty
    file is one empty last segment), holding little more than one segment at a time."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while len(buffer) > SEGMENT_BYTES:
            yield buffer[:SEGMENT_BYTES], False
            buffer = buffer[SEGMENT_BYTES:]
    yield buffer, True


def encrypt_chunks(chunks: Iterable[bytes], data_key: bytes) -> Iterator[bytes]:
    """The stored bytes of a plaintext given in chunks: the header, then each segment sealed."""
    aead = AESGCM(data_key)
    header = MAGIC + os.urandom(PREFIX_BYTES)
    yield header
    prefix = header[len(MAGIC) :]
    for index, (segment, last) in enumerate(_segments(chunks)):
        if index >= MAX_SEGMENTS:
            raise ValueError("file too large for one data key")
        yield aead.encrypt(_nonce(prefix, index), segment, _associated(header, index, last))


def decrypt_stream(stored, data_key: bytes) -> Iterator[bytes]:
    """The plaintext of an open stored file, segment by segment, each released only once its
    tag verifies; Tampered at the first that does not (or a file cut short)."""
    aead = AESGCM(data_key)
    header = stored.read(HEADER_BYTES)
    if len(header) != HEADER_BYTES or not header.startswith(MAGIC):
        raise Tampered("not an encrypted file of the portal")
    prefix = header[len(MAGIC) :]
    size = SEGMENT_BYTES + TAG_BYTES
    current = stored.read(size)
    index = 0
    while True:
        following = stored.read(size) if len(current) == size else b""
        last = not following
        try:
            yield aead.decrypt(_nonce(prefix, index), current, _associated(header, index, last))
        except InvalidTag as error:
            raise Tampered(f"segment {index} does not verify") from error
        if last:
            return
        current, index = following, index + 1


class EncryptedContent:
    """What Django's storage writes (it asks for chunks()): the upload encrypted on the fly."""

    def __init__(self, uploaded, data_key: bytes) -> None:
        self.name = "encrypted"
        self._uploaded = uploaded
        self._data_key = data_key

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        self._uploaded.seek(0)
        return encrypt_chunks(self._uploaded.chunks(), self._data_key)


# --- A stored file -----------------------------------------------------------------------------


def file_store(instance, uploaded, name: str) -> None:
    """Store `uploaded` encrypted in instance.file under a new data key, its wrapped form on
    instance.wrapped_key (the caller saves the row)."""
    data_key = AESGCM.generate_key(bit_length=256)
    instance.wrapped_key = data_key_wrap(data_key)
    instance.file.save(name, EncryptedContent(uploaded, data_key), save=False)


def file_verify(instance) -> None:
    """Read the whole stored file through its tags (nothing kept): Tampered if any fails. A
    download asks first, so that a changed file is refused before any byte or header goes."""
    data_key = data_key_unwrap(instance.wrapped_key)
    with instance.file.open("rb") as stored:
        for _ in decrypt_stream(stored, data_key):
            pass


def file_plaintext(instance) -> Iterator[bytes]:
    """The stored file's plaintext as it is decrypted (for a streaming response)."""
    data_key = data_key_unwrap(instance.wrapped_key)
    stored = instance.file.open("rb")
    try:
        yield from decrypt_stream(stored, data_key)
    finally:
        stored.close()
