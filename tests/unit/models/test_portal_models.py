"""The portal on a lake with feature releases and a model trained twice: the release page
names the model versions trained on each release (from the lineage the training runs
recorded), and the lineage page explains PII-derived feature columns where it badges them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pipelines.portal.access import Role
from pipelines.portal.app import create_app
from tests.unit.models.conftest import TrainedTwice


def _sections(trained: TrainedTwice, role: Role, path: str = "/releases") -> dict:
    client = TestClient(create_app(trained.settings, lambda: role))
    response = client.get(path + "?format=json")
    assert response.status_code == 200
    return response.json()["sections"]


def test_each_release_lists_the_models_trained_on_it(trained: TrainedTwice):
    sections = _sections(trained, Role.ML)
    by_release = {r["release_id"]: r["consumers"] for r in sections["releases"]}
    for done in (trained.first, trained.second):
        [used] = done.record.features
        assert by_release[used.release_id] == f"{done.record.model} {done.record.version}"
    unused = set(by_release) - {
        t.record.features[0].release_id for t in (trained.first, trained.second)
    }
    assert unused and all(by_release[r] == "none yet" for r in unused)


def test_consumers_name_the_model_version_columns_and_lineage_run(trained: TrainedTwice):
    rows = _sections(trained, Role.GOVERNANCE)["consumers"]
    versions = {(r["model"], r["model_version"], r["release_id"]) for r in rows}
    assert versions == {
        (t.record.model, t.record.version, t.record.features[0].release_id)
        for t in (trained.first, trained.second)
    }
    newest = rows[0]
    assert newest["model_version"] == trained.second.record.version
    assert newest["lineage_run"] == trained.second.record.run_id
    assert set(newest["columns"].split(", ")) == set(trained.second.record.features[0].columns)


def test_kept_quasi_identifiers_are_explained_where_they_are_badged(trained: TrainedTwice):
    from pipelines.portal.lineage import dataset_graph, load, pii_derived_columns

    client = TestClient(create_app(trained.settings, lambda: Role.ML))
    rows = _sections(trained, Role.ML, "/lineage")["pii_derived"]
    kept = [r for r in rows if r["status"] == "kept by contract"]
    assert kept and all(r["pii_class"] == "quasi_identifier" for r in kept)
    assert not [r for r in rows if r["status"] == "violation"]
    page = client.get("/lineage").text
    assert "Marts: no PII-derived columns other than" in page
    assert "no PII-derived columns." not in page  # never the bare claim next to a badge
    graph = load(trained.settings, None)
    _, _, badges = dataset_graph(graph, pii_derived_columns(graph))
    tables = {r["column"].rsplit(".", 1)[0] for r in kept}
    assert tables and all(badges[t] == "quasi-id kept" for t in tables)
