"""One lake with three published feature releases, and the example model trained twice on it
(release as of MIDDLE, then retrained on the newer release as of LAST), built once per session
with lineage on the default file transport (see :mod:`training_lake`). The pytest-xdist workers
share it: the first builds it under a file lock, the others load what it built (tests read it;
one that trains again does so on a copy)."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines.contracts import ContractSet
from pipelines.lineage import client
from pipelines.models.repeat_purchase import Trained, train
from pipelines.settings import Settings
from tests.conftest import built_once, session_dir
from tests.unit.models.training_lake import HORIZON_DAYS, LAST, MIDDLE, build


@dataclass(frozen=True)
class TrainedTwice:
    settings: Settings
    first: Trained
    second: Trained

    def events(self) -> list[dict[str, Any]]:
        return client.read_events(client.events_path(self.settings))

    def training_completes(self) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events()
            if e["job"]["name"].endswith(".train_repeat_purchase") and e["eventType"] == "COMPLETE"
        ]


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory, contracts: ContractSet
) -> Iterator[TrainedTwice]:
    def build_and_train(root: Path) -> None:
        (root / "lake").mkdir()
        settings = build(root / "lake", contracts)
        first = train(release_as_of=MIDDLE, horizon_days=HORIZON_DAYS, settings=settings)
        second = train(release_as_of=LAST, horizon_days=HORIZON_DAYS, settings=settings)
        pickled = pickle.dumps((settings, first, second))  # conftest classes do not pickle
        (root / "trained.pickle").write_bytes(pickled)

    home = session_dir(tmp_path_factory) / "models-home"
    home.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        for var in ("PIPELINES_KEYS", "PIPELINES_KEY_FILE", "PIPELINES_SETTINGS_FILE"):
            mp.delenv(var, raising=False)
        for key in list(os.environ):
            if key.startswith("OPENLINEAGE"):
                mp.delenv(key)
        mp.setenv("HOME", str(home))  # no ~/.openlineage/openlineage.yml
        mp.chdir(home)  # no ./openlineage.yml
        built = built_once(tmp_path_factory, "models-trained", build_and_train)
        yield TrainedTwice(*pickle.loads((built / "trained.pickle").read_bytes()))
    client.reset_clients()
