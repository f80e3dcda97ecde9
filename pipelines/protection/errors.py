"""Every exception the protection package raises, in one place.

Messages name files, purposes, key ids, tables and columns - never a clear-text value, a token
under attack or key material. Exceptions are raised ``from None`` where the underlying error
could carry input text (``json.JSONDecodeError.doc`` holds the whole document).
"""

from __future__ import annotations


class ProtectionError(Exception):
    """Base class of every error raised by :mod:`pipelines.protection`."""


# Key ring ---------------------------------------------------------------------------------


class KeyRingError(ProtectionError):
    """The key ring cannot be loaded, parsed or used."""


class MissingKeyError(KeyRingError, KeyError):
    """No key ring is configured."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "no key ring configured"


class KeyFileNotFoundError(KeyRingError, FileNotFoundError):
    """The configured key ring file does not exist."""

    def __str__(self) -> str:
        return str(self.args[0])


class KeyFileExistsError(KeyRingError, FileExistsError):
    """Refusing to overwrite an existing key ring file."""

    def __str__(self) -> str:
        return str(self.args[0])


class KeyFilePermissionError(KeyRingError, PermissionError):
    """The key ring file can be read or written by group or others."""

    def __str__(self) -> str:
        return str(self.args[0])


class KeyRingFormatError(KeyRingError, ValueError):
    """The key ring is not JSON, has the wrong format version or is inconsistent."""


class KeyLengthError(KeyRingFormatError):
    """A key has the wrong length for its purpose."""


class KeyMismatchError(KeyRingError):
    """The key ring holds other bytes under a key id the lake (or the audit log) already knows:
    a different ring with the same ids. Tokens would not join and ciphertexts would not open."""


class UnknownKeyIdError(KeyRingError, KeyError):
    """A key id is not in the key ring."""

    def __str__(self) -> str:
        return str(self.args[0])


# Encryption -------------------------------------------------------------------------------


class DecryptionError(ProtectionError, ValueError):
    """A ciphertext could not be decrypted (tampered, wrong key ring, wrong context, ...)."""


# Re-identification ------------------------------------------------------------------------


class ReidentificationRefused(ProtectionError, PermissionError):
    """Re-identification is not allowed for this request (no reason, wrong column, ...)."""


class NotReversibleError(ReidentificationRefused):
    """The column is pseudonymized: HMAC tokens are one-way and cannot be reversed."""


# Audit log --------------------------------------------------------------------------------


class AuditLogError(ProtectionError):
    """The audit log cannot be read or written."""


class AuditLogTampered(AuditLogError):
    """The audit log's hash chain is broken; ``seq`` is the first bad entry."""

    def __init__(self, message: str, seq: int):
        super().__init__(message)
        self.seq = seq
