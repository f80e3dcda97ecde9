"""The key ring encrypted at rest under a key-encryption key (KEK), for production.

An encrypted key ring file (or ``PIPELINES_KEYS`` value) is a JSON envelope::

    {"format": "pipelines-keyring-encrypted/1", "kek": "<KEK fingerprint>",
     "nonce": "<base64, 12 bytes>", "ciphertext": "<base64: AES-256-GCM of the ring JSON>"}

The associated data binds the format tag and the KEK fingerprint. The KEK (32 random bytes,
base64) comes from the environment, ``PIPELINES_KEK``, else from Airflow's secrets backend as
the Variable ``pipelines_kek`` (``airflow.sdk.Variable``: environment ``AIRFLOW_VAR_*``,
the metadata database, or whatever backend - Vault, AWS Secrets Manager, ... - Airflow is
configured with). The KEK never sits next to the ring.

``pipelines keys encrypt`` wraps a plain ring file; ``pipelines keys rotate-kek`` re-wraps it
under ``PIPELINES_KEK_NEW`` (the ring's keys do not change, so nothing in the lake does).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pipelines.protection.errors import KeyRingError, KeyRingFormatError, MissingKeyError

ENVELOPE_FORMAT = "pipelines-keyring-encrypted/1"
KEK_ENV_VAR = "PIPELINES_KEK"
NEW_KEK_ENV_VAR = "PIPELINES_KEK_NEW"
AIRFLOW_VARIABLE = "pipelines_kek"
_FINGERPRINT_MESSAGE = b"pipelines/kek-fingerprint/v1"


class KekError(KeyRingError):
    """The key ring cannot be unwrapped with the configured KEK (wrong KEK, or tampered)."""


def new_kek() -> str:
    """A new random KEK, as the base64 text ``PIPELINES_KEK`` holds."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def kek_fingerprint(kek: bytes) -> str:
    return hmac.new(kek, _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]


def parse_kek(text: str, source: str) -> bytes:
    try:
        kek = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyRingFormatError(f"{source}: the KEK is not base64") from None
    if len(kek) != 32:
        raise KeyRingFormatError(f"{source}: the KEK is {len(kek)} bytes; expected 32")
    return kek


def _airflow_variable(name: str) -> str | None:
    """``name`` from Airflow's secrets backend, or None (no Airflow, or not set)."""
    try:
        from airflow.sdk import Variable
    except ImportError:
        return None
    try:
        value = Variable.get(name, default=None)
    except Exception:  # no backend reachable outside a task: as if unset
        return None
    return value if isinstance(value, str) and value.strip() else None


def load_kek(var: str = KEK_ENV_VAR, airflow_variable: str | None = AIRFLOW_VARIABLE) -> bytes:
    """The KEK from ``$var``, else from the Airflow Variable; :class:`MissingKeyError` if
    neither holds one."""
    text = os.environ.get(var, "")
    if text.strip():
        return parse_kek(text, f"${var}")
    if airflow_variable:
        value = _airflow_variable(airflow_variable)
        if value is not None:
            return parse_kek(value, f"Airflow Variable {airflow_variable}")
    where = f" or the Airflow Variable {airflow_variable}" if airflow_variable else ""
    raise MissingKeyError(
        f"the key ring is encrypted at rest and no key-encryption key is configured: set "
        f"{var}{where} to the KEK (base64, 32 bytes)"
    )


def is_envelope(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("format") == ENVELOPE_FORMAT


def _ad(fingerprint: str) -> bytes:
    return f"{ENVELOPE_FORMAT}\x00{fingerprint}".encode()


def seal(ring_json: str, kek: bytes) -> str:
    """The envelope JSON of ``ring_json`` under ``kek``."""
    fingerprint = kek_fingerprint(kek)
    nonce = secrets.token_bytes(12)
    ciphertext = AESGCM(kek).encrypt(nonce, ring_json.encode("utf-8"), _ad(fingerprint))
    envelope: dict[str, Any] = {
        "format": ENVELOPE_FORMAT,
        "kek": fingerprint,
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
    }
    return json.dumps(envelope, indent=2) + "\n"


def unseal(text: str, kek: bytes, source: str) -> str:
    """The ring JSON inside the envelope ``text``."""
    try:
        data = json.loads(text)
        recorded = str(data["kek"])
        nonce = base64.b64decode(data["nonce"], validate=True)
        ciphertext = base64.b64decode(data["ciphertext"], validate=True)
    except (ValueError, KeyError, TypeError):
        raise KeyRingFormatError(f"{source}: not a readable encrypted key ring") from None
    fingerprint = kek_fingerprint(kek)
    if not hmac.compare_digest(recorded, fingerprint):
        raise KekError(
            f"{source}: the key ring is encrypted under the KEK with fingerprint {recorded}, "
            f"but the configured KEK has fingerprint {fingerprint}; configure the right KEK "
            f"({KEK_ENV_VAR} or the Airflow Variable {AIRFLOW_VARIABLE})"
        )
    try:
        return AESGCM(kek).decrypt(nonce, ciphertext, _ad(fingerprint)).decode("utf-8")
    except (InvalidTag, ValueError):
        raise KekError(
            f"{source}: the encrypted key ring does not authenticate (tampered)"
        ) from None


def unwrap(text: str, source: str) -> tuple[str, bytes | None]:
    """``(ring JSON, KEK)`` of an envelope, or ``(text, None)`` for a plain key ring."""
    if not is_envelope(text):
        return text, None
    kek = load_kek()
    return unseal(text, kek, source), kek
