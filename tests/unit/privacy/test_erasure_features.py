"""Erasure through the feature build: the canary person (the factory day's u1) is erased
after a dbt build, proven absent, and stays absent after the pipeline runs again over the
same landing data (ingestion, dbt build, snapshot export): no token, no ciphertext, no
feature row, in any warehouse relation or file written."""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import pytest

from pipelines.features.snapshots import export_snapshots
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.lake.subjects import subject_graph
from pipelines.privacy.authorize import authorize
from pipelines.privacy.erase import ACTION, erase
from pipelines.privacy.verify import verify_erasure
from pipelines.protection import AuditLog
from pipelines.protection.encrypt import Encryptor, encryption_context
from pipelines.protection.pseudonymize import Pseudonymizer
from pipelines.warehouse.build import build_features
from tests.factories import DAY, _id, clean_day, write_day

AS_OF = date(2018, 1, 10)


def _pipeline(settings, keyring, contracts) -> None:
    for table in contracts.load_order():
        ingest_table(
            table, Interval.day(date.fromisoformat(DAY)), settings, keyring=keyring,
            contracts=contracts,
        )  # fmt: skip
    assert build_features(settings, AS_OF).success
    with duckdb.connect(str(settings.warehouse)) as con:
        export_snapshots(con, settings, AS_OF)


def _orders_of(settings, table: str, key: str, value: str) -> tuple[int, int]:
    """The ``orders`` aggregate of one entity: in its snapshot file and in the warehouse."""
    snapshot = settings.data_dir / "features" / table / f"as_of={AS_OF}" / "data.parquet"
    query = f"SELECT orders FROM {{}} WHERE {key} = ? AND as_of_date = ?"
    in_file = duckdb.execute(query.format(f"'{snapshot}'"), [value, AS_OF]).fetchone()
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        in_warehouse = con.execute(query.format(f"marts.{table}"), [value, AS_OF]).fetchone()
    assert in_file is not None and in_warehouse is not None
    return int(in_file[0]), int(in_warehouse[0])


def _warehouse_text(settings) -> str:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        relations = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database()"
        ).fetchall()
        return "\n".join(
            str(row) for s, n in relations for row in con.execute(f'FROM "{s}"."{n}"').fetchall()
        )


@pytest.mark.integration  # two dbt builds
@pytest.mark.first(25)  # a long module: started first
def test_an_erased_person_stays_out_of_features_after_the_pipeline_runs_again(
    settings, keyring, contracts, write_landing, tmp_path
):
    write_day(write_landing, contracts, clean_day())
    original = tmp_path / "landing-copy"
    shutil.copytree(settings.landing, original)
    _pipeline(settings, keyring, contracts)
    token = Pseudonymizer(keyring).token(_id("u", 1))
    needles = [token, *(Pseudonymizer(keyring).token(_id("c", i)) for i in (1, 3))]
    needles.append(
        Encryptor(keyring).encrypt(
            "canary.alpha@CANARYMAIL.example", encryption_context("customer_profiles", "email")
        )
    )
    assert token in _warehouse_text(settings)  # the premise
    # u1 bought product p1 (orders o1; o2 is u2's) and both orders of seller s1 but o2
    assert _orders_of(settings, "product_features", "product_id", _id("p", 1)) == (2, 2)
    assert _orders_of(settings, "seller_features", "seller_id", _id("s", 1)) == (3, 3)

    graph = subject_graph(contracts)
    log = AuditLog(settings.audit, keyring)
    request = authorize(
        log, keyring, settings.lake, action=ACTION, actor="alice", reason="DSR-3",
        subject=_id("u", 1), subject_table="customers",
    )  # fmt: skip
    cert = erase(settings, keyring, log, request, contracts, graph)
    assert [d.artifact for d in cert.features] == [f"features/customer_features/as_of={AS_OF}"]
    assert verify_erasure(settings, keyring, contracts, graph, token).absent
    assert token not in _warehouse_text(settings)
    # the aggregates lost the person's contribution: rebuilt from the rewritten lake
    [rebuilt] = cert.rebuilt
    assert (rebuilt.as_of, rebuilt.success, cert.aggregates_kept) == (AS_OF.isoformat(), True, [])
    assert set(rebuilt.tables) == {"customer_features", "product_features", "seller_features"}
    assert _orders_of(settings, "product_features", "product_id", _id("p", 1)) == (1, 1)
    assert _orders_of(settings, "seller_features", "seller_id", _id("s", 1)) == (1, 1)
    entry = AuditLog(settings.audit, keyring).entries()[-1]
    assert '"rebuilt":[{"as_of":"2018-01-10"' in entry["details"]["certificate"]

    shutil.rmtree(settings.landing)
    shutil.copytree(original, settings.landing)
    _pipeline(settings, keyring, contracts)
    shutil.rmtree(settings.landing)
    result = verify_erasure(settings, keyring, contracts, graph, token)
    assert result.findings == {} and result.absent
    assert _orders_of(settings, "product_features", "product_id", _id("p", 1)) == (1, 1)
    text = _warehouse_text(settings)
    assert [n for n in needles if n in text] == []
    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    leaks = [f"{p}: {n}" for p in files for n in needles if n.encode() in p.read_bytes()]
    assert leaks == []
