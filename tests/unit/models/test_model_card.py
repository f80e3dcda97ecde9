"""The model card next to the artifact: provenance, input quality, PII status and
representativeness; no personal data in it or in the artifact's metadata."""

from __future__ import annotations

import csv
import json

from pipelines.features.snapshots import read_release
from tests.factories import CANARIES
from tests.unit.models.conftest import TrainedTwice
from tests.unit.models.training_lake import EARLY, MIDDLE


def test_card_and_metadata_sit_next_to_the_artifact(trained: TrainedTwice):
    folder = trained.first.folder
    assert folder.name == f"version={trained.first.record.version}"
    for name in ("model.pkl", "metadata.json", "card.json", "card.md"):
        assert (folder / name).is_file(), name
    card = json.loads((folder / "card.json").read_text())
    assert card == trained.first.card
    assert card["version"] == trained.first.record.version
    md = (folder / "card.md").read_text()
    assert md.startswith(f"# Model card: repeat_purchase ({trained.first.record.version})")


def test_the_card_names_the_provenance_of_every_input(trained: TrainedTwice):
    card = trained.first.card
    (features,) = card["provenance"]["features"]
    early = read_release(trained.settings, EARLY)
    assert features["release_id"] == early.release_id
    assert features["snapshot_sha256"] == early.features["customer_features"]["sha256"]
    assert {
        (p["table"], p["partition"], p["dataset_version"]) for p in features["lake_partitions"]
    } == {(p.table, p.partition, p.dataset_version) for p in early.partitions}
    labels = card["provenance"]["labels"]
    assert {(p["table"], p["partition"]) for p in labels["lake_partitions"]} == {
        ("customers", "dt=2018-01-01"),
        ("customers", "dt=2018-01-05"),
        ("orders", "dt=2018-01-05"),
    }


def test_the_card_gives_the_quality_of_every_input(trained: TrainedTwice):
    card = trained.first.card
    quality = {(q["dataset"], q.get("partition"), q["version"]): q for q in card["quality"]}
    features = quality[
        ("features.customer_features", None, trained.first.record.features[0].sha256)
    ]
    assert features["status"] == "passed" and features["checks"]["failed"] == 0
    assert features["checks"]["passed"] > 0
    middle = read_release(trained.settings, MIDDLE)
    for p in middle.partitions:
        if p.table == "orders" and p.partition == "dt=2018-01-05":
            row = quality[("lake.orders", p.partition, p.dataset_version)]
            assert row["gate_run_id"] == p.gate_run_id
            assert row["checks"]["passed"] == p.checks_passed > 0


def test_the_card_gives_the_pii_status(trained: TrainedTwice):
    pii = trained.first.card["pii"]
    inputs = {i["dataset"]: i for i in pii["inputs"]}
    assert inputs["features.customer_features"]["pseudonymous"] is True
    assert inputs["features.customer_features"]["pseudonymous_keys"] == ["customer_unique_token"]
    assert pii["quasi_identifiers_used"] == ["features.customer_features.customer_state"]
    assert inputs["lake.customers"]["personal_data_columns_used"]["customer_unique_id"] == {
        "pii": "indirect_identifier",
        "protection": "pseudonymize",
    }
    assert pii["clear_pii_used"] == []


def test_the_card_compares_the_training_set_with_the_reference_by_segment(trained: TrainedTwice):
    views = {r["segment"]: r for r in trained.first.card["representativeness"]}
    assert {k: v["reference"] for k, v in views.items()} == {
        "customer_state": "olist_customer_state",
        "region": "olist_customer_state grouped by brazil_regions",
        "age_band": "synthetic_age_band",
        "gender": "synthetic_gender",
    }
    rows = trained.first.record.training_rows
    for rep in views.values():
        assert sum(s["count"] for s in rep["segments"]) + rep["missing"] == rows
        assert rep["level"] in ("pass", "warn", "fail")
    state, region = views["customer_state"], views["region"]
    assert any(s["segment"] == "SP" and s["reference_share"] > 0.3 for s in state["segments"])
    sudeste = {s["segment"]: s for s in region["segments"]}["sudeste"]
    assert sudeste["count"] == sum(
        s["count"] for s in state["segments"] if s["segment"] in ("SP", "RJ", "MG", "ES")
    )
    assert {s["segment"] for s in views["gender"]["segments"]} <= {"F", "M", "X"}
    assert views["gender"]["missing"] < rows  # profiles were found for the customers
    md = (trained.first.folder / "card.md").read_text()
    for segment in views:
        assert f"## Representativeness by {segment} " in md
    monitoring = trained.first.card["pii"]["quasi_identifiers_for_representativeness_only"]
    assert "lake.customer_profiles.gender" in monitoring


def test_no_personal_data_in_the_card_or_the_artifact(trained: TrainedTwice):
    """Neither the canaries nor any clear identifier, city or zip code of the landing files."""
    clear: set[str] = set()
    for path in trained.settings.landing.glob("*/olist_customers_dataset.csv"):
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                clear |= {row["customer_id"], row["customer_unique_id"], row["customer_city"]}
    clear = {v for v in clear if len(v) >= 8}  # short city names occur inside other words
    assert len(clear) > 100
    for model in (trained.first, trained.second):
        for name in ("card.json", "card.md", "metadata.json", "model.pkl"):
            text = (model.folder / name).read_bytes().decode("latin-1")
            leaked = [v for v in [*clear, *CANARIES] if v in text]
            assert not leaked, (name, leaked[:3])
    events = json.dumps(trained.training_completes())
    assert not [v for v in [*clear, *CANARIES] if v in events]
