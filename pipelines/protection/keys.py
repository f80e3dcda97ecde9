"""The key ring: versioned keys for pseudonymization (HMAC-SHA256), encryption (AES-SIV) and
the audit log's HMAC chain.

File format (JSON, mode 0600; the file is refused if group or others may read or write it)::

    {"format": 1,
     "pseudonymization": {"active": "p1", "keys": {"p1": "<base64, 32 bytes>"}},
     "encryption": {"active": "e1", "keys": {"e1": "<base64, 64 bytes>"}},
     "audit": {"active": "a1", "keys": {"a1": "<base64, 32 bytes>"}},
     "created": "2024-01-01T00:00:00Z", "note": "..."}

Each purpose holds several key versions and one ``active`` id; new values are always protected
with the active key, and every token carries its key id so older versions stay usable.

Rotation:

* **encryption** keys rotate freely: :func:`rotate` adds a new active version and keeps the
  old ones, so existing ciphertexts still decrypt; :meth:`Encryptor.reencrypt` moves a
  ciphertext to the active key.
* **pseudonymization** keys cannot be rotated in place: an HMAC token cannot be re-keyed
  without the clear value, so rotating means re-ingesting from landing. Tokens carry the key
  id (``p2:...``), so tables with mixed key versions (which no longer join) are detectable.

Key bytes live only inside :class:`KeyMaterial`, whose ``repr``/``str`` never show them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pipelines.protection.errors import (
    KeyFileExistsError,
    KeyFileNotFoundError,
    KeyFilePermissionError,
    KeyLengthError,
    KeyRingFormatError,
    MissingKeyError,
    UnknownKeyIdError,
)
from pipelines.protection.kek import is_envelope, seal, unseal, unwrap

if TYPE_CHECKING:
    from pipelines.settings import Settings

FORMAT_VERSION = 1
DEV_NOTE = "local development key ring; do not use in production"
KEYS_ENV_VAR = "PIPELINES_KEYS"
KEY_FILE_ENV_VAR = "PIPELINES_KEY_FILE"

_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_FINGERPRINT_DOMAIN = b"pipelines/key-fingerprint/v2\x00"
_LEGACY_FINGERPRINT_DOMAIN = b"pipelines/key-fingerprint/v1\x00"  # manifests before 2026-12


def safe_id(value: object) -> str:
    """``repr`` of a key id for messages, or a placeholder if it does not look like one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return repr(value)
    if isinstance(value, str) and _KEY_ID.match(value):
        return repr(value)
    return "<invalid id>"


class Purpose(StrEnum):
    PSEUDONYMIZATION = "pseudonymization"
    ENCRYPTION = "encryption"
    AUDIT = "audit"
    """The audit log's HMAC chain (:mod:`pipelines.protection.audit`); optional in a ring
    file written before 2026-12 (``pipelines keys rotate --purpose audit`` adds it)."""

    @property
    def key_length(self) -> int:
        """Bytes per key: 32 for HMAC-SHA256 (pseudonymization, audit), 64 for AES-256-SIV."""
        return 64 if self is Purpose.ENCRYPTION else 32

    @property
    def id_prefix(self) -> str:
        return {"pseudonymization": "p", "encryption": "e", "audit": "a"}[self.value]


class KeyMaterial:
    """One key version. ``repr``/``str`` show the id only; :attr:`secret` gives the bytes."""

    __slots__ = ("_secret", "id", "purpose")

    def __init__(self, key_id: str, purpose: Purpose, secret: bytes):
        if not _KEY_ID.match(key_id):
            raise KeyRingFormatError(
                f"a {purpose.value} key id is not 1-32 characters of A-Z a-z 0-9 _ . -"
            )
        if len(secret) != purpose.key_length:
            raise KeyLengthError(
                f"{purpose.value} key {key_id!r} is {len(secret)} bytes; "
                f"expected {purpose.key_length}"
            )
        self.id = key_id
        self.purpose = purpose
        self._secret = bytes(secret)

    @property
    def secret(self) -> bytes:
        """The raw key bytes. Never log, print or put them in a message."""
        return self._secret

    def fingerprint(self) -> str:
        """A keyed fingerprint bound to the id: the first 16 hex digits of
        ``HMAC-SHA256(key, domain NUL purpose NUL id)``. Safe for manifests and the lake's key
        registry: it reveals nothing about the key, and other bytes under the same id (or the
        same bytes under another id) give another fingerprint."""
        message = _FINGERPRINT_DOMAIN + self.purpose.value.encode() + b"\x00" + self.id.encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:16]

    def matches_fingerprint(self, recorded: str) -> bool:
        """Whether ``recorded`` is this key's fingerprint (or its 8-digit pre-2026-12 form)."""
        if len(recorded) == 8:
            data = _LEGACY_FINGERPRINT_DOMAIN + self.purpose.value.encode() + b"\x00" + self._secret
            return hmac.compare_digest(recorded, hashlib.sha256(data).hexdigest()[:8])
        return hmac.compare_digest(recorded, self.fingerprint())

    def __repr__(self) -> str:
        return f"KeyMaterial(id={self.id!r}, ****)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyMaterial):
            return NotImplemented
        return (
            self.id == other.id
            and self.purpose is other.purpose
            and secrets.compare_digest(self._secret, other._secret)
        )

    def __hash__(self) -> int:
        return hash((self.id, self.purpose))

    def __reduce__(self) -> Any:  # pickling would copy key bytes to wherever it goes
        raise TypeError("KeyMaterial cannot be pickled")


@dataclass(frozen=True, repr=False)
class KeySet:
    """All versions of one purpose's keys and the id of the active one."""

    purpose: Purpose
    active_id: str
    keys: Mapping[str, KeyMaterial]

    def __post_init__(self) -> None:
        if self.active_id not in self.keys:
            raise KeyRingFormatError(
                f"{self.purpose.value}: active key id {safe_id(self.active_id)} is not among its keys "
                f"({', '.join(self.keys) or 'none'})"
            )

    @property
    def active(self) -> KeyMaterial:
        return self.keys[self.active_id]

    def get(self, key_id: str) -> KeyMaterial:
        try:
            return self.keys[key_id]
        except KeyError:
            raise UnknownKeyIdError(
                f"{self.purpose.value} key id {safe_id(key_id)} is not in the key ring "
                f"(known: {', '.join(self.keys)})"
            ) from None

    def __contains__(self, key_id: object) -> bool:
        return key_id in self.keys

    def next_id(self) -> str:
        """The id a rotation would add: the purpose letter and one more than the highest."""
        pattern = re.compile(rf"^{self.purpose.id_prefix}(\d+)$")
        numbers = [int(m.group(1)) for k in self.keys if (m := pattern.match(k))]
        return f"{self.purpose.id_prefix}{max(numbers, default=0) + 1}"

    def with_new_active(self) -> KeySet:
        new = KeyMaterial(
            self.next_id(), self.purpose, secrets.token_bytes(self.purpose.key_length)
        )
        return KeySet(self.purpose, new.id, {**self.keys, new.id: new})

    def fingerprints(self) -> dict[str, str]:
        return {key_id: key.fingerprint() for key_id, key in self.keys.items()}

    def __repr__(self) -> str:
        return f"KeySet({self.purpose.value}, active={self.active_id!r}, ids={list(self.keys)})"


@dataclass(frozen=True, repr=False)
class KeyRing:
    """The pseudonymization and encryption key sets. ``repr`` shows ids only."""

    pseudonymization: KeySet
    encryption: KeySet
    created: str | None = None
    note: str | None = None
    audit: KeySet | None = None

    def keyset(self, purpose: Purpose | str) -> KeySet:
        purpose = Purpose(purpose)
        if purpose is Purpose.PSEUDONYMIZATION:
            return self.pseudonymization
        if purpose is Purpose.ENCRYPTION:
            return self.encryption
        if self.audit is None:
            raise MissingKeyError(
                "the key ring has no audit key (purpose 'audit', for the audit log's HMAC "
                "chain); add one with `pipelines keys rotate --purpose audit` (or add an "
                "'audit' section where PIPELINES_KEYS is stored)"
            )
        return self.audit

    @classmethod
    def generate(cls, note: str | None = DEV_NOTE) -> KeyRing:
        """A new key ring with one random key per purpose (``p1``, ``e1``)."""
        sets = {}
        for purpose in Purpose:
            key = KeyMaterial(
                f"{purpose.id_prefix}1", purpose, secrets.token_bytes(purpose.key_length)
            )
            sets[purpose] = KeySet(purpose, key.id, {key.id: key})
        return cls(
            pseudonymization=sets[Purpose.PSEUDONYMIZATION],
            encryption=sets[Purpose.ENCRYPTION],
            created=_utc_now(),
            note=note,
            audit=sets[Purpose.AUDIT],
        )

    def purposes(self) -> list[Purpose]:
        """The purposes this ring holds keys for."""
        return [p for p in Purpose if p is not Purpose.AUDIT or self.audit is not None]

    def rotated(self, purpose: Purpose | str) -> KeyRing:
        """A copy with a new active key version for ``purpose`` (old versions kept)."""
        purpose = Purpose(purpose)
        if purpose is Purpose.AUDIT and self.audit is None:
            key = KeyMaterial("a1", purpose, secrets.token_bytes(purpose.key_length))
            new_set = KeySet(purpose, key.id, {key.id: key})
        else:
            new_set = self.keyset(purpose).with_new_active()
        sets = {p: self.keyset(p) for p in self.purposes()} | {purpose: new_set}
        return KeyRing(
            pseudonymization=sets[Purpose.PSEUDONYMIZATION],
            encryption=sets[Purpose.ENCRYPTION],
            created=self.created,
            note=self.note,
            audit=sets.get(Purpose.AUDIT),
        )

    def describe(self) -> dict[str, Any]:
        """Ids, active ids and fingerprints (no key material): for ``keys show`` and lineage."""
        return {
            purpose.value: {
                "active": self.keyset(purpose).active_id,
                "fingerprints": self.keyset(purpose).fingerprints(),
            }
            for purpose in self.purposes()
        }

    # Serialisation ---------------------------------------------------------------------

    @classmethod
    def from_json(cls, text: str, source: str) -> KeyRing:
        """Parse key ring JSON; ``source`` (a path or variable name) is used in errors."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KeyRingFormatError(
                f"{source}: key ring is not valid JSON (line {exc.lineno}, column {exc.colno})"
            ) from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: Any, source: str) -> KeyRing:
        if not isinstance(data, dict):
            raise KeyRingFormatError(f"{source}: key ring must be a JSON object")
        if data.get("format") != FORMAT_VERSION:
            raise KeyRingFormatError(
                f"{source}: unsupported key ring format {safe_id(data.get('format'))}; "
                f"expected {FORMAT_VERSION}"
            )
        sets = {
            purpose: _parse_keyset(data.get(purpose.value), purpose, source)
            for purpose in Purpose
            if purpose is not Purpose.AUDIT or data.get(purpose.value) is not None
        }
        created, note = data.get("created"), data.get("note")
        return cls(
            pseudonymization=sets[Purpose.PSEUDONYMIZATION],
            encryption=sets[Purpose.ENCRYPTION],
            created=created if isinstance(created, str) else None,
            note=note if isinstance(note, str) else None,
            audit=sets.get(Purpose.AUDIT),
        )

    def to_json(self) -> str:
        """The key ring file content. Contains key material: write it only to a 0600 file."""
        data: dict[str, Any] = {"format": FORMAT_VERSION}
        for purpose in self.purposes():
            keyset = self.keyset(purpose)
            data[purpose.value] = {
                "active": keyset.active_id,
                "keys": {
                    key_id: base64.b64encode(key.secret).decode("ascii")
                    for key_id, key in keyset.keys.items()
                },
            }
        data["created"] = self.created
        data["note"] = self.note
        return json.dumps(data, indent=2) + "\n"

    def __repr__(self) -> str:
        audit = f", audit={self.audit!r}" if self.audit is not None else ""
        return (
            f"KeyRing(pseudonymization={self.pseudonymization!r}, "
            f"encryption={self.encryption!r}{audit})"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("KeyRing cannot be pickled")


def _parse_keyset(raw: Any, purpose: Purpose, source: str) -> KeySet:
    where = f"{source}: {purpose.value}"
    if not isinstance(raw, dict):
        raise KeyRingFormatError(f"{where}: missing or not an object")
    active, keys = raw.get("active"), raw.get("keys")
    if not isinstance(active, str):
        raise KeyRingFormatError(f"{where}: 'active' must be a key id string")
    if not isinstance(keys, dict) or not keys:
        raise KeyRingFormatError(f"{where}: 'keys' must be a non-empty object of id -> base64")
    materials: dict[str, KeyMaterial] = {}
    for key_id, encoded in keys.items():
        if not isinstance(encoded, str):
            raise KeyRingFormatError(f"{where} key {safe_id(key_id)}: must be a base64 string")
        try:
            secret = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise KeyRingFormatError(f"{where} key {safe_id(key_id)}: not valid base64") from None
        try:
            materials[key_id] = KeyMaterial(key_id, purpose, secret)
        except KeyRingFormatError as exc:
            raise type(exc)(f"{source}: {exc}") from None
    try:
        return KeySet(purpose, active, materials)
    except KeyRingFormatError as exc:
        raise KeyRingFormatError(f"{source}: {exc}") from None


def _utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# Providers --------------------------------------------------------------------------------


class KeyProvider(Protocol):
    """Anything that can produce the key ring."""

    def load(self) -> KeyRing: ...


@dataclass(frozen=True)
class FileKeyProvider:
    path: Path

    def load(self) -> KeyRing:
        return ring_from_text(read_key_file(Path(self.path)), str(self.path))


def read_key_file(path: Path) -> str:
    """The text of a key ring file that only its owner may read and write."""
    try:
        check_private(path)
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileNotFoundError(
            f"key ring file not found: {path} (set {KEY_FILE_ENV_VAR} to an existing key "
            "ring; `pipelines keys init` creates a local development key ring)"
        ) from None
    except UnicodeDecodeError:
        raise KeyRingFormatError(f"{path}: key ring is not UTF-8 text") from None


def ring_from_text(text: str, source: str) -> KeyRing:
    """A key ring from its JSON, or from a KEK envelope around it (:mod:`.kek`)."""
    plain, _ = unwrap(text, source)
    return KeyRing.from_json(plain, source=source)


def check_private(path: Path) -> None:
    """Refuse a key file that group or others may read or write (any of the ``077`` bits)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFilePermissionError(
            f"key ring file {path} has mode {mode:04o}: group or others can read or write it, "
            f"so it is refused. Run: chmod 600 {path}"
        )


@dataclass(frozen=True)
class EnvKeyProvider:
    var: str = KEYS_ENV_VAR

    def load(self) -> KeyRing:
        text = os.environ.get(self.var)
        if not text:
            raise MissingKeyError(f"environment variable {self.var} is not set or empty")
        return ring_from_text(text, f"${self.var}")


@dataclass(frozen=True, repr=False)
class StaticKeyProvider:
    """A key ring held in memory (tests)."""

    keyring: KeyRing

    def load(self) -> KeyRing:
        return self.keyring

    def __repr__(self) -> str:
        return f"StaticKeyProvider({self.keyring!r})"


def keyring_from_settings(settings: Settings) -> KeyRing:
    """``settings.keys`` (JSON, env ``PIPELINES_KEYS``) first, else ``settings.key_file``."""
    if settings.keys is not None:
        return ring_from_text(settings.keys.get_secret_value(), KEYS_ENV_VAR)
    if settings.key_file is not None:
        return FileKeyProvider(settings.key_file).load()
    raise MissingKeyError(
        f"no key ring configured: set {KEY_FILE_ENV_VAR} to a key ring file or {KEYS_ENV_VAR} "
        "to the key ring JSON (or key_file / keys in the settings file). For local development, "
        f"`pipelines keys init` creates one at {settings.default_key_file}; then "
        f"export {KEY_FILE_ENV_VAR}={settings.default_key_file}"
    )


# Files ------------------------------------------------------------------------------------


def create_keyring(path: Path, note: str | None = DEV_NOTE) -> KeyRing:
    """Write a new random key ring to ``path`` (mode 0600); never overwrites a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    keyring = KeyRing.generate(note=note)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileExistsError(
            f"key ring file already exists: {path}; refusing to overwrite it"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fd, 0o600)
        fh.write(keyring.to_json())
        fh.flush()
        os.fsync(fd)
    return keyring


def rotate(path: Path, purpose: Purpose | str) -> KeyRing:
    """Add a new active key version for ``purpose`` to the key ring file; keep old versions.

    Rotating the pseudonymization key changes every token: re-ingest from landing afterwards.
    """
    path = Path(path)
    plain, kek = unwrap(read_key_file(path), str(path))
    keyring = KeyRing.from_json(plain, str(path)).rotated(purpose)
    text = keyring.to_json()
    _write_replace(path, seal(text, kek) if kek is not None else text)
    return keyring


def encrypt_at_rest(path: Path, kek: bytes) -> KeyRing:
    """Replace the plain key ring file ``path`` by its envelope under ``kek``."""
    path = Path(path)
    text = read_key_file(path)
    if is_envelope(text):
        raise KeyRingFormatError(
            f"{path} is already encrypted; `pipelines keys rotate-kek` re-encrypts it"
        )
    keyring = KeyRing.from_json(text, str(path))
    _write_replace(path, seal(keyring.to_json(), kek))
    return keyring


def rotate_kek(path: Path, old: bytes, new: bytes) -> KeyRing:
    """Re-encrypt the key ring file ``path`` from the KEK ``old`` to ``new``; its keys stay."""
    path = Path(path)
    text = read_key_file(path)
    if not is_envelope(text):
        raise KeyRingFormatError(
            f"{path} is not encrypted at rest; `pipelines keys encrypt` encrypts it"
        )
    keyring = KeyRing.from_json(unseal(text, old, str(path)), str(path))
    _write_replace(path, seal(keyring.to_json(), new))
    return keyring


def _write_replace(path: Path, text: str) -> None:
    """Atomically replace ``path`` with a 0600 file holding ``text``."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fd, 0o600)
            fh.write(text)
            fh.flush()
            os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
