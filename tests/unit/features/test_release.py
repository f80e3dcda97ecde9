"""A feature build uses exactly the lake partitions a passed quality gate vouched for."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pipelines.contracts import ContractSet
from pipelines.features.release import Release, select_release
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import partitions
from pipelines.protection import KeyRing
from pipelines.quality.tasks import QualityGateFailed, gate
from pipelines.settings import Settings
from tests.factories import DAY, clean_day, write_day
from tests.unit.quality.conftest import validate_all

INTERVAL = Interval.day(date.fromisoformat(DAY))
AS_OF = date.fromisoformat(DAY) + timedelta(days=1)


@pytest.fixture
def ingested(settings: Settings, keyring: KeyRing, contracts: ContractSet, write_landing):
    write_day(write_landing, contracts, clean_day())
    for table in contracts.load_order():
        ingest_table(table, INTERVAL, settings, keyring=keyring, contracts=contracts)
    return settings


def _validate_and_gate(settings: Settings, contracts: ContractSet, run_id: str) -> None:
    validate_all(settings, contracts, INTERVAL, run_id)
    gate(INTERVAL.start, INTERVAL.end, run_id, settings=settings)


def test_partitions_of_a_passed_gate_are_released(ingested: Settings, contracts: ContractSet):
    _validate_and_gate(ingested, contracts, "r1")
    release = select_release(ingested, AS_OF, "r1")

    assert release.held_back == []
    assert sorted(p.table for p in release.partitions) == sorted(contracts.load_order())
    for p in release.partitions:
        [part] = partitions(ingested.lake, p.table)
        assert (p.partition, p.dataset_version) == (
            part.folder.name,
            part.manifest.dataset_version,
        )
        assert p.gate_run_id == "r1" and p.checks_passed > 0
    # the same lake content gives the same release id; it survives a JSON round trip
    assert select_release(ingested, AS_OF, "r1").release_id == release.release_id
    assert Release.from_json(release.to_json()) == release
    selection = release.selection(ingested.lake)
    assert {t: [p.folder.name for p in ps] for t, ps in selection.items()} == {
        t: [f"dt={DAY}"] for t in contracts.load_order()
    }


def test_a_partition_whose_interval_ends_after_as_of_is_not_used(
    ingested: Settings, contracts: ContractSet
):
    _validate_and_gate(ingested, contracts, "r1")
    early = select_release(ingested, date.fromisoformat(DAY), "r1")
    assert early.partitions == [] and early.held_back == []


def test_nothing_is_released_without_a_gate_decision(ingested: Settings, contracts: ContractSet):
    validate_all(ingested, contracts, INTERVAL, "r1")
    release = select_release(ingested, AS_OF, "r1")
    assert release.partitions == []
    assert {h.reason for h in release.held_back} == {
        "validated, but no quality gate has been decided for that run"
    }


def test_a_failed_gate_holds_its_partitions_back_with_the_reason(
    ingested: Settings, contracts: ContractSet
):
    # validating only some tables makes the gate fail (tables without results)
    validate_all(ingested, contracts, INTERVAL, "r1", tables=["customers"])
    with pytest.raises(QualityGateFailed):
        gate(INTERVAL.start, INTERVAL.end, "r1", settings=ingested)
    release = select_release(ingested, AS_OF, "r1")
    assert release.partitions == []
    reasons = {h.table: h.reason for h in release.held_back}
    assert reasons["customers"] == "quality gate failed for run r1"
    assert reasons["orders"].startswith("not validated in its current version")


def test_a_partition_re_ingested_after_its_gate_is_held_back(
    ingested: Settings, keyring: KeyRing, contracts: ContractSet, write_landing
):
    _validate_and_gate(ingested, contracts, "r1")
    rows = clean_day()
    extra = dict(rows["sellers"][0], seller_id="s" + "9" * 31)  # one more seller: new content
    rows["sellers"] = [*rows["sellers"], extra]
    write_day(write_landing, contracts, rows)
    ingest_table("sellers", INTERVAL, ingested, keyring=keyring, contracts=contracts)

    release = select_release(ingested, AS_OF, "r1")
    assert [h.table for h in release.held_back] == ["sellers"]
    assert "sellers" not in {p.table for p in release.partitions}
    # validating the new content and passing the gate again releases it
    _validate_and_gate(ingested, contracts, "r2")
    again = select_release(ingested, AS_OF, "r2")
    assert again.held_back == [] and {p.gate_run_id for p in again.partitions} == {"r2"}
