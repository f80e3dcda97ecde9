"""A lake with three published feature releases and the lineage of every step, for the training
tests.

Generated landing files (600 orders, 2018-01-01..14) are ingested as three partitions per
table, [START, EARLY), [EARLY, MIDDLE) and [MIDDLE, LAST), each through ``task_run`` with
ingestion lineage, validated and gated by the quality tasks; features are built, checked and
published as of EARLY, MIDDLE and LAST with the feature tasks. Lineage goes to the default
file transport under the data directory.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from itertools import pairwise
from pathlib import Path

from pydantic import SecretStr

from pipelines.contracts import ContractSet
from pipelines.features import tasks
from pipelines.features.paths import feature_table_names
from pipelines.ingest import ingest_table
from pipelines.ingest.lineage import ingestion_lineage
from pipelines.lake.interval import Interval
from pipelines.lineage import client
from pipelines.lineage.emit import task_run
from pipelines.protection import KeyRing
from pipelines.quality import tasks as quality
from pipelines.settings import Settings

FEATURE_TABLES = feature_table_names(Settings())  # the declared feature tables (Olist package on)

START = date(2018, 1, 1)
EARLY = date(2018, 1, 5)
MIDDLE = date(2018, 1, 9)
LAST = date(2018, 1, 13)
HORIZON_DAYS = 4
"""A model trained on the release as of MIDDLE uses the features as of EARLY and the orders
of [EARLY, MIDDLE) as labels; retrained on the release as of LAST, those of MIDDLE and
[MIDDLE, LAST)."""
ORDERS = 600
DAYS = 14


def _at(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


RELEASES = (EARLY, MIDDLE, LAST)


def intervals(releases: tuple[date, ...] = RELEASES) -> list[Interval]:
    bounds = [START, *releases]
    return [Interval(_at(a), _at(b)) for a, b in pairwise(bounds)]


def build(
    root: Path,
    contracts: ContractSet,
    keyring: KeyRing | None = None,
    releases: tuple[date, ...] = RELEASES,
) -> Settings:
    """Generate, ingest, gate and publish a release as of each of ``releases`` (ingesting
    [START, first), [first, second), ...) under ``root`` (see the docstring); pass the
    ``keyring`` a later Airflow run will use (its key file), if any. Each release costs an
    interval of ingestion, validation, a dbt build and the feature checks (about a third of
    the build)."""
    from pipelines.generate import generate

    keyring = keyring or KeyRing.generate(note="training tests")
    settings = Settings(
        data_dir=root / "data", duckdb_memory_limit="1GB", duckdb_threads=2,
        keys=SecretStr(keyring.to_json()),  # publication audits the k-anonymity gate
    )  # fmt: skip
    generate(settings.landing, orders=ORDERS, days=DAYS, start=START, seed=7, fmt="csv")
    client.reset_clients()
    for interval in intervals(releases):
        run_id = f"manual__{interval.end.date().isoformat()}"
        for table in contracts.load_order():
            with task_run(
                f"ingest_{table}",
                run_id=run_id,
                settings=settings,
                interval=(interval.start, interval.end),
            ) as lineage:
                result = ingest_table(
                    table, interval, settings, run_id=run_id, keyring=keyring, contracts=contracts
                )
                lineage.complete_with(
                    lambda r=result: ingestion_lineage(r.manifest, settings, contracts)
                )
        for table in contracts.load_order():
            quality.validate(table, interval.start, interval.end, run_id, settings=settings)
        quality.gate(interval.start, interval.end, run_id, settings=settings)
        tasks.build(interval.start, interval.end, run_id, settings=settings)
        for table in FEATURE_TABLES:
            tasks.check(table, interval.start, interval.end, run_id, settings=settings)
        tasks.publish(interval.start, interval.end, run_id, settings=settings)
    return settings
