"""The content checksum of a run file: sha256 over every byte of the file as written, stored
in a fixed-size trailer after the netCDF data (a netCDF reader reads the header and the
variables at the offsets it names, and ignores bytes past them). Written once by the writer
(sealed), checked by every reader before a byte is parsed (dln.data.io.open_run_file): any
changed byte, in data or metadata, is a mismatch, and a corrupt file never reaches a parser.
An edit through netCDF tools rewrites the file, so it drops or breaks the trailer: refused as
well.

Why bytes and not an attribute over the variables: digesting ~90 variables and ~250
attributes through a netCDF library costs ~20 ms per run file, hashing its bytes ~0.1 ms.
"""

from __future__ import annotations

import hashlib

MAGIC = b"\nDLN-CONTENT-SHA256 v1 "
TRAILER_SIZE = len(MAGIC) + 64 + 1  # magic, hex digest, newline


def trailer(content: bytes) -> bytes:
    return _trailer(hashlib.sha256(content))


def _trailer(content_hash) -> bytes:
    return MAGIC + content_hash.hexdigest().encode() + b"\n"


def check(data: bytes) -> str | None:
    """None when `data` (a whole file) ends in the trailer of its content, else why not."""
    tail = data[-TRAILER_SIZE:]
    if len(data) <= TRAILER_SIZE or not tail.startswith(MAGIC) or not tail.endswith(b"\n"):
        return (
            "has no content checksum (written by an older dln, rewritten by another tool, or "
            "cut short)"
        )
    if verified_digest(data) is None:
        return "content does not match its checksum (edited or corrupted since it was written)"
    return None


def verified_digest(data: bytes) -> str | None:
    """The sha256 of a whole file whose bytes match their checksum trailer, else None: one pass
    over the bytes serves both (the content's hash state, continued over the trailer)."""
    if len(data) <= TRAILER_SIZE:
        return None
    content_hash = hashlib.sha256(memoryview(data)[:-TRAILER_SIZE])
    tail = data[-TRAILER_SIZE:]
    if tail != _trailer(content_hash):
        return None
    content_hash.update(tail)
    return content_hash.hexdigest()


def sealed(content: bytes) -> tuple[bytes, str]:
    """The file's bytes: `content` followed by its checksum trailer; and the sha256 of those
    whole bytes (what a batch's manifest records), from the same pass over the content."""
    content_hash = hashlib.sha256(content)
    tail = _trailer(content_hash)
    content_hash.update(tail)  # the content's hash state, continued over the trailer
    return content + tail, content_hash.hexdigest()
