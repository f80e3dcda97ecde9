"""Assertion helpers for the protection tests (imported as a plain module)."""

from __future__ import annotations

import base64

from pipelines.protection import KeyRing


def key_strings(keyring: KeyRing) -> list[str]:
    """Every textual form of every key in the ring, for 'never leaks' assertions."""
    out: list[str] = []
    for keyset in (keyring.pseudonymization, keyring.encryption):
        for key in keyset.keys.values():
            secret = key.secret
            out += [
                base64.b64encode(secret).decode(),
                base64.urlsafe_b64encode(secret).decode(),
                secret.hex(),
                repr(secret),
            ]
    return out


def assert_no_key_material(text: str, keyring: KeyRing) -> None:
    for form in key_strings(keyring):
        assert form not in text
        assert form[:16] not in text
