"""The dbt docs site's digest follows what the site shows, not the warehouse's rows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from pipelines.settings import Settings
from pipelines.warehouse.docs_inputs import docs_digest, record_digest, site_digest

DAY = date(2018, 1, 10)


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "target").mkdir()
    (project / "dbt_project.yml").write_text("name: commerce\n")
    (project / "models" / "a.sql").write_text("select 1 as x\n")
    return project


def _warehouse(settings: Settings, statement: str) -> None:
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute(statement)


def test_new_rows_keep_the_digest_and_a_schema_or_project_change_changes_it(
    settings: Settings, tmp_path: Path
):
    project = _project(tmp_path)
    assert docs_digest(settings, project, {}, DAY) is None  # no warehouse yet: regenerate
    _warehouse(settings, "CREATE SCHEMA marts; CREATE TABLE marts.f (id INTEGER, v VARCHAR)")
    first = docs_digest(settings, project, {}, DAY)
    assert first is not None

    _warehouse(settings, "INSERT INTO marts.f VALUES (1, 'a'), (2, 'b')")
    (project / "target" / "manifest.json").write_text("{}")  # dbt's output is not an input
    assert docs_digest(settings, project, {}, DAY) == first

    changes = [docs_digest(settings, project, {"feature_packages_on": ["x"]}, DAY)]
    changes.append(docs_digest(settings, project, {}, date(2018, 1, 11)))
    _warehouse(settings, "COMMENT ON TABLE marts.f IS 'features'")
    changes.append(docs_digest(settings, project, {}, DAY))
    _warehouse(settings, "ALTER TABLE marts.f ADD COLUMN w DOUBLE")
    changes.append(docs_digest(settings, project, {}, DAY))
    (project / "models" / "a.sql").write_text("select 2 as x\n")
    changes.append(docs_digest(settings, project, {}, DAY))
    assert len({first, *changes}) == len(changes) + 1


def test_a_locked_warehouse_means_regenerate(settings: Settings, tmp_path: Path):
    project = _project(tmp_path)
    _warehouse(settings, "CREATE TABLE t (id INTEGER)")
    writer = duckdb.connect(str(settings.warehouse))  # a writer holds the file
    try:
        assert docs_digest(settings, project, {}, DAY) is None
    finally:
        writer.close()
    assert docs_digest(settings, project, {}, DAY) is not None


def test_a_site_is_reused_only_when_complete_and_recorded(tmp_path: Path):
    site = tmp_path / "site"
    site.mkdir()
    record_digest(site, "abc")
    assert site_digest(site) is None  # no pages yet
    for name in ("index.html", "manifest.json", "catalog.json"):
        (site / name).write_text("x")
    assert site_digest(site) == "abc"
    record_digest(site, None)
    assert site_digest(site) is None
