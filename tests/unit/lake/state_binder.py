"""Child processes for the shared-state tests: a worker binding key rings to the lake's key
registry on the object store, as ingestions on two machines would. Imported by
``multiprocessing`` (spawn)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from pydantic import SecretStr


def bind_many(
    data_dir: str, lake_url: str, lock_url: str, ring_json: str, tag: str, count: int, go: Any
) -> None:
    """Bind ``count`` rings, each the base ring plus one new pseudonymization key id
    ``<tag><n>``, to the registry; start when every worker waits at the barrier ``go``."""
    from pipelines.lake.state import key_registry
    from pipelines.protection.keys import KeyMaterial, KeyRing, KeySet, Purpose
    from pipelines.settings import Settings

    settings = Settings(data_dir=Path(data_dir), lake_url=lake_url, lock_url=SecretStr(lock_url))
    base = KeyRing.from_json(ring_json, "test")
    registry = key_registry(settings)
    pseudo = Purpose.PSEUDONYMIZATION
    go.wait(timeout=120)
    for n in range(count):
        key = KeyMaterial(f"{tag}{n}", pseudo, secrets.token_bytes(pseudo.key_length))
        keys = {**base.pseudonymization.keys, key.id: key}
        ring = KeyRing(
            pseudonymization=KeySet(pseudo, base.pseudonymization.active_id, keys),
            encryption=base.encryption,
            audit=base.audit,
        )
        registry.bind(ring)
