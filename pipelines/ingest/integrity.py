"""Reading a landing file to its end: its SHA-256 and, for gzip, proof that it is whole.

DuckDB reads a truncated ``.csv.gz`` without error up to the cut, so a file cut short would
load as a shorter file with balanced counts. :func:`read_to_end` reads every byte once (for
the manifest's SHA-256) and, for a gzip file, decompresses it on the way in chunks, output
discarded: every member's end marker, CRC-32 and length are checked by zlib, and a stream that
stops before its end, a corrupt block or bytes after the end are a :class:`CorruptFileError`
naming the file and the byte offset. Ingestion runs it next to the parse, on its own thread.

The inflating is ``zlib-ng``'s (the same format, checks and messages as the standard
library's ``zlib``, about twice as fast: ``bench/gzip_check.py``); its output is discarded in
pieces of 1 MB, which stay cheaper to allocate than larger ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Protocol, cast

from zlib_ng import zlib_ng

from pipelines.ingest.landing import LandingFile

_CHUNK = 1 << 20
"""Bytes read at a time."""

_OUTPUT = 1 << 20
"""Most decompressed bytes held at once (a highly compressed block is drained in pieces)."""

_GZIP = 16 + zlib_ng.MAX_WBITS
_MAGIC = b"\x1f\x8b"


class _Inflate(Protocol):
    """What is used of a zlib-ng decompressor (its type stub lacks ``copy``)."""

    eof: bool
    unconsumed_tail: bytes
    unused_data: bytes

    def decompress(self, data: bytes, max_length: int = 0) -> bytes: ...

    def copy(self) -> _Inflate: ...


_decompressobj = cast("Callable[[int], _Inflate]", zlib_ng.decompressobj)
_ZlibError = cast("type[Exception]", zlib_ng.error)  # the stub declares an instance


class UnreadableFileError(ValueError):
    """A landing file is not what its name says (not text, not gzip) or cannot be read whole."""


class CorruptFileError(UnreadableFileError):
    """A compressed landing file is truncated or corrupt."""


class _GzipCheck:
    """Feeds a gzip file's bytes through zlib; raises at the first byte that is wrong."""

    def __init__(self, name: str):
        self._name = name
        self._inflate = _decompressobj(_GZIP)
        self._offset = 0  # file offset of the next byte fed
        self._members = 0

    def feed(self, data: bytes) -> None:
        start = self._offset
        if self._inflate.eof:
            self._next_member(data)
            return
        saved = self._inflate.copy()
        try:
            self._inflate_all(data)
        except _ZlibError as exc:
            at = self._locate(saved, data, start)
            raise self._error(f"corrupt gzip data at byte {at:,} ({_zlib_reason(exc)})") from None
        self._offset = start + len(data)
        if self._inflate.eof:
            self._members += 1
            rest = self._inflate.unused_data
            self._offset -= len(rest)
            if rest:
                self._next_member(rest)

    def _inflate_all(self, data: bytes) -> None:
        inflate = self._inflate
        inflate.decompress(data, _OUTPUT)
        while inflate.unconsumed_tail and not inflate.eof:
            inflate.decompress(inflate.unconsumed_tail, _OUTPUT)

    def _next_member(self, data: bytes) -> None:
        """Bytes after a member's end: another member, or an error."""
        if data[:2] != _MAGIC[: len(data[:2])]:
            raise self._error(
                f"unexpected bytes after the end of the gzip data at byte {self._offset:,}"
            )
        self._inflate = _decompressobj(_GZIP)
        self.feed(data)

    def _locate(self, saved: _Inflate, data: bytes, start: int) -> int:
        """The offset of the first byte zlib refuses, replaying ``data`` byte by byte."""
        for i in range(len(data)):
            try:
                saved.decompress(data[i : i + 1], _OUTPUT)
                while saved.unconsumed_tail:
                    saved.decompress(saved.unconsumed_tail, _OUTPUT)
            except _ZlibError:
                return start + i
            if saved.eof:  # a later member is wrong: the replay cannot follow it cheaply
                break
        return start

    def finish(self) -> None:
        if not self._inflate.eof:
            raise self._error(
                f"the gzip data ends at byte {self._offset:,} before its end marker "
                "(the file is truncated)"
            )

    def _error(self, what: str) -> CorruptFileError:
        return CorruptFileError(
            f"{self._name}: {what}; nothing was published. Have the file delivered again "
            "(`gzip -t` checks a copy)."
        )


_REASONS = {
    "incorrect data check": "CRC-32 mismatch",
    "incorrect length check": "length mismatch",
    "incorrect header check": "not gzip data",
}


def _zlib_reason(exc: Exception) -> str:
    """zlib's reason (``invalid block type``, a CRC-32 mismatch); it holds no data."""
    text = str(exc).split(": ", 1)[-1]
    return _REASONS.get(text, text)


def read_to_end(file: LandingFile) -> str:
    """The file's SHA-256 (hex); for a gzip file, :class:`CorruptFileError` unless its
    compressed data is whole."""
    digest = hashlib.sha256()
    check = _GzipCheck(file.relative) if file.format.endswith(".gz") else None
    with file.path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            if check is not None:
                check.feed(chunk)
    if check is not None:
        check.finish()
    return digest.hexdigest()
