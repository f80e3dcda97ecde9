"""The lake's key registry: which key ids it was written with, and their keyed fingerprints.

``<lake>/_keys.json`` (no key bytes)::

    {"format": 1, "keys": {"pseudonymization": {"p1": "<16 hex>"},
                           "encryption": {"e1": "<16 hex>"}}}

A key ring generated twice has the same ids (``p1``, ``e1``) and other bytes: with it, the
same person gets another token from that day on (joins break, orders turn into
``orphan_fk``) and new ciphertexts need the other ring. :meth:`KeyRegistry.bind` (ingestion
start) and :meth:`KeyRegistry.check` (re-identification) compare every key of the ring with
what the registry records for its id, and raise :class:`KeyMismatchError` on a difference;
``bind`` then records the ids it did not know yet. Partition manifests record the active
fingerprints too (:func:`check_recorded`), which catches a mismatch if the registry is lost.

The registry is a :class:`~pipelines.statefile.StateFile`: the local file above (the
embedded default), or, with the lake on an object store, ``_state/keys.json`` there, which
every worker shares (:func:`pipelines.lake.state.key_registry`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from pipelines.protection.errors import KeyMismatchError, KeyRingFormatError
from pipelines.protection.keys import KeyMaterial, KeyRing, Purpose
from pipelines.statefile import LocalStateFile, StateFile

REGISTRY_NAME = "_keys.json"
FORMAT_VERSION = 1
_NOTE = "key ids and keyed fingerprints this lake was written with; never key bytes"

Known = dict[str, dict[str, str]]


def mismatch(key: KeyMaterial, recorded: str, where: str) -> KeyMismatchError:
    """The error for a key whose fingerprint differs from what ``where`` recorded."""
    return KeyMismatchError(
        f"{key.purpose.value} key {key.id!r} of the key ring has fingerprint "
        f"{key.fingerprint()}, but {where} recorded {recorded} for {key.id!r}: this is "
        "another key ring with the same key ids. Its tokens would not join the lake's and its "
        "ciphertexts would need this ring. Configure the key ring the lake was written with "
        "(`pipelines keys show` prints its fingerprints), or write to a new lake. Nothing "
        "was written."
    )


def check_recorded(
    keyring: KeyRing, ids: Mapping[str, str], fingerprints: Mapping[str, str], where: str
) -> None:
    """Compare a manifest's ``key_versions``/``key_fingerprints`` (purpose -> id / fingerprint)
    with the ring; ids the ring does not hold are for other checks to judge."""
    for purpose in keyring.purposes():
        key_id, recorded = ids.get(purpose.value), fingerprints.get(purpose.value)
        keyset = keyring.keyset(purpose)
        if key_id and recorded and key_id in keyset:
            key = keyset.get(key_id)
            if not key.matches_fingerprint(recorded):
                raise mismatch(key, recorded, where)


class KeyRegistry:
    """id -> fingerprint per purpose, in a state file (``<lake>/_keys.json`` by default),
    appended to under its lock."""

    def __init__(self, state: StateFile | Path):
        self.state: StateFile = LocalStateFile(Path(state)) if isinstance(state, Path) else state

    @classmethod
    def for_lake(cls, lake: Path) -> KeyRegistry:
        return cls(Path(lake) / REGISTRY_NAME)

    @property
    def where(self) -> str:
        return self.state.where

    @property
    def path(self) -> Path:
        """The registry's local file (a local lake's; a lake on a store has none)."""
        if not isinstance(self.state, LocalStateFile):
            raise ValueError(f"the key registry is at {self.where}: no local file")
        return self.state.path

    def known(self) -> Known:
        try:
            text = self.state.read()
            if text is None:
                return {}
            data = json.loads(text)
        except ValueError:  # UnicodeDecodeError too
            raise KeyRingFormatError(
                f"{self.where}: the lake's key registry is not JSON; restore it from a backup "
                "(it holds key ids and fingerprints only)"
            ) from None
        keys = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(keys, dict) or data.get("format") != FORMAT_VERSION:
            raise KeyRingFormatError(f"{self.where}: not a key registry of format {FORMAT_VERSION}")
        return {str(p): dict(ids) for p, ids in keys.items() if isinstance(ids, dict)}

    def check(self, keyring: KeyRing, purposes: Iterable[Purpose | str] | None = None) -> None:
        """Raise :class:`KeyMismatchError` if a key of the ring has another fingerprint than
        the registry records for its id."""
        _compare(keyring, self.known(), self.where, purposes)

    def bind(self, keyring: KeyRing) -> None:
        """:meth:`check`, then record the ids of the ring the registry does not know yet
        (under the registry's lock; a ring whose ids are all known needs no lock)."""
        known = self.known()
        _compare(keyring, known, self.where, None)
        if not _added(keyring, known):
            return
        with self.state.locked():
            known = self.known()
            _compare(keyring, known, self.where, None)
            if _added(keyring, known):
                data = {"format": FORMAT_VERSION, "note": _NOTE, "keys": known}
                self.state.write(json.dumps(data, indent=2, sort_keys=True) + "\n")

    def __repr__(self) -> str:
        return f"KeyRegistry({self.where!r})"


def _added(keyring: KeyRing, known: Known) -> bool:
    """Record in ``known`` the ring's ids it lacks; whether there were any."""
    added = False
    for purpose in keyring.purposes():
        ids = known.setdefault(purpose.value, {})
        for key_id, fingerprint in keyring.keyset(purpose).fingerprints().items():
            if key_id not in ids:
                ids[key_id], added = fingerprint, True
    return added


def _compare(
    keyring: KeyRing, known: Known, where: str, purposes: Iterable[Purpose | str] | None
) -> None:
    wanted = keyring.purposes() if purposes is None else [Purpose(p) for p in purposes]
    for purpose in wanted:
        recorded_ids = known.get(purpose.value, {})
        for key_id, key in keyring.keyset(purpose).keys.items():
            recorded = recorded_ids.get(key_id)
            if recorded is not None and not key.matches_fingerprint(recorded):
                raise mismatch(key, recorded, where)
