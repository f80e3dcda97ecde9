"""The gate end to end on generated lakes: clean batches pass, each injected defect fails the
right check with the right observed value, results are stored, queryable and rendered."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections import Counter
from contextlib import redirect_stdout
from urllib.parse import quote

import duckdb

from pipelines.contracts import ContractSet
from pipelines.quality import store
from pipelines.quality.command import main as quality_main
from pipelines.quality.docs import RENDERED, SERIALIZED, build_docs
from tests.unit.quality.conftest import PERIOD, Lake


def test_clean_generated_batch_passes_every_check(clean_lake: Lake):
    for table, result in clean_lake.results.items():
        not_passed = [c.describe() for c in result.checks if c.outcome != "passed"]
        assert not_passed == [], table
        assert result.count("failed") == 0
    # representativeness was really judged (enough rows), and passed
    status = clean_lake.check("orders", "order_status_representative")
    assert status.details["evaluated"] is True
    assert status.observed["psi"] < 0.1 and status.success
    # drift has no previous batch yet: not judged, says why
    drift = clean_lake.check("orders", "order_status_drift")
    assert drift.success and drift.details["evaluated"] is False


def _expected_check(contracts: ContractSet, defect: dict) -> str:
    kind, column = defect["kind"], defect["column"]
    if kind == "null_required":
        return f"contract.quarantine.required_missing.{column}"
    if kind == "duplicate_key":
        return "contract.quarantine.duplicate_key"
    if kind == "out_of_range":
        allowed = contracts[defect["table"]].column(column).allowed_values
        return f"contract.quarantine.{'not_allowed' if allowed else 'out_of_range'}.{column}"
    if kind == "orphan_fk":
        return f"contract.quarantine.orphan_fk.{column}"
    if kind == "malformed_line":
        return "contract.quarantine.malformed_record"
    if kind == "wrong_type":
        return f"contract.quarantine.type_error.{column}"
    raise AssertionError(kind)


def test_each_injected_defect_fails_the_right_check_with_the_right_observed_value(
    defect_lake: Lake, contracts: ContractSet
):
    defects = defect_lake.generation["defects"]
    assert {d["kind"] for d in defects} == {
        "null_required",
        "duplicate_key",
        "out_of_range",
        "orphan_fk",
        "malformed_line",
        "wrong_type",
    }
    expected = Counter((d["table"], _expected_check(contracts, d)) for d in defects)
    for (table, name), count in expected.items():
        check = defect_lake.check(table, name)
        assert check.success is False, name
        assert check.outcome == "warned", name  # ingestion quarantined the rows: a warning
        assert check.unexpected_count == count, (table, name)
        assert json.loads(json.dumps(check.observed)) == count
    for table, result in defect_lake.results.items():
        for check in result.checks:
            if (
                check.spec.name.startswith("contract.quarantine.")
                and (table, check.spec.name) not in expected
            ):
                assert check.outcome == "passed", (table, check.spec.name)
            if check.spec.name.startswith(
                ("contract.required", "contract.range", "contract.primary")
            ):
                assert check.outcome == "passed", (
                    table,
                    check.spec.name,
                )  # the loaded data is clean
        assert result.count("failed") == 0, (table, [c.describe() for c in result.failed_critical])


def test_every_check_has_severity_source_and_meta(clean_lake: Lake):
    for result in clean_lake.results.values():
        for check in result.checks:
            assert check.spec.severity in ("critical", "warning")
            assert check.spec.source in (
                "contract",
                "freshness",
                "business_rule",
                "representativeness",
                "drift",
            )
            if check.spec.source == "contract" and not check.spec.name.startswith(
                "contract.quarantine."
            ):
                assert check.spec.severity == "critical", check.spec.name


def test_results_are_stored_one_row_per_check_and_queryable_with_duckdb(clean_lake: Lake):
    base = store.quality_dir(clean_lake.settings)
    con = duckdb.connect()
    rows = con.execute(
        'SELECT run_id, "table", partition, interval_start, interval_end, suite, expectation, '
        '"column", severity, success, observed_value, unexpected_count, element_count, outcome '
        f"FROM read_parquet('{base}/checks/*/*.parquet') WHERE run_id = 'run-clean'"
    ).fetchall()
    total = sum(len(r.checks) for r in clean_lake.results.values())
    assert len(rows) == total
    assert {r[1] for r in rows} == set(clean_lake.results)
    assert all(r[3] == PERIOD.start.isoformat() and r[4] == PERIOD.end.isoformat() for r in rows)
    row_count = next(r for r in rows if r[1] == "orders" and r[6] == "contract.row_count")
    assert json.loads(row_count[10]) == clean_lake.check("orders", "contract.row_count").observed
    stats = con.execute(
        "SELECT expectation, segment, count, share, reference_share, psi "
        f"FROM read_parquet('{base}/stats/*/*.parquet') "
        "WHERE \"table\" = 'orders' AND expectation = 'order_status_representative'"
    ).fetchall()
    assert {s[1] for s in stats} >= {"delivered", "shipped", "canceled"}
    assert sum(s[2] for s in stats) == clean_lake.check("orders", "contract.row_count").observed


def test_data_docs_are_built_for_the_run(clean_lake: Lake):
    index = build_docs(clean_lake.settings)
    assert index.name == "index.html" and index.exists()
    pages = list(index.parent.glob("validations/**/*.html"))
    assert {p.parts[-4] for p in pages} == set(clean_lake.results)  # one page per table
    text = next(p for p in pages if p.parts[-4] == "orders").read_text()
    assert "order_status" in text and "PSI" in text
    assert "partial_unexpected" not in text


def test_incremental_data_docs_render_only_new_or_changed_results(clean_lake: Lake):
    settings = clean_lake.settings
    index = build_docs(settings)
    pages = {p: p.stat().st_mtime_ns for p in index.parent.glob("validations/**/*.html")}
    links = {quote(str(p.relative_to(index.parent))) for p in pages}
    assert all(link in index.read_text() for link in links)

    again = build_docs(settings, clean=False)  # nothing new: no page rendered again
    assert {p: p.stat().st_mtime_ns for p in pages} == pages
    assert all(link in again.read_text() for link in links)  # the index lists every result

    changed = next(p for p in store.result_files(settings) if "orders" in p.name)
    changed.write_bytes(changed.read_bytes())  # a result stored again (same run, new file)
    build_docs(settings, clean=False)
    rendered = {p.parts[-4] for p in pages if p.stat().st_mtime_ns != pages[p]}
    assert rendered == {"orders"}
    assert set(index.parent.glob("validations/**/*.html")) == set(pages)


def _undated(html: str) -> str:
    """A Data Docs page without the time GX built it and its random element ids."""
    html = re.sub(r"\d{8}T\d{6}\.\d+Z", "<built>", html)
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", html)


def test_unchanged_results_go_into_the_docs_store_as_kept_beside_the_site(clean_lake: Lake):
    """An incremental build puts an unchanged result into GX's store as the string kept at
    the last build (GX's own serialization of it): the pages and the index are the same."""
    settings = clean_lake.settings
    index = build_docs(settings)  # clean: every string made by GX, and kept
    kept = index.parent / SERIALIZED
    files = store.result_files(settings)
    assert len(list(kept.glob("*.json"))) == len(files)
    pages = {p: _undated(p.read_text()) for p in index.parent.glob("validations/**/*.html")}
    fresh_index = _undated(index.read_text())

    stale = next(kept.glob("*.json"))
    stale.write_text(json.dumps({"stamp": [0, 0], "text": "not a result"}))  # not used
    (kept / "of-a-result-no-longer-asked-for.json").write_text("{}")
    (index.parent / RENDERED).unlink()  # every page rendered again, from the kept strings
    again = build_docs(settings, clean=False)
    assert _undated(again.read_text()) == fresh_index
    assert {p: _undated(p.read_text()) for p in pages} == pages
    assert len(list(kept.glob("*.json"))) == len(files)  # the other one is gone
    assert json.loads(stale.read_text())["text"] != "not a result"  # made again by GX


def test_data_docs_built_in_a_fresh_process_render_our_own_expectations(clean_lake: Lake):
    """A process that never validated (the quality_report task) still renders the custom
    checks: GX used to leave them out ('ExpectationNotFoundError') unless a validation had
    imported them first."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "--data-dir",
            str(clean_lake.settings.data_dir),
            "quality",
            "docs",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ExpectationNotFoundError" not in done.stdout + done.stderr
    pages = store.docs_dir(clean_lake.settings).glob("validations/**/*.html")
    assert any("PSI" in page.read_text(encoding="utf-8") for page in pages)


def test_summary_command_prints_checks_per_table(clean_lake: Lake):
    out = io.StringIO()
    with redirect_stdout(out):
        code = quality_main(
            ["--data-dir", str(clean_lake.settings.data_dir), "summary", "--run-id", "run-clean"]
        )
    text = out.getvalue()
    assert code == 0
    assert "passed" in text and "warned" in text and "failed" in text
    for table in clean_lake.results:
        assert table in text
    assert "quality gate: passed" in text
    out = io.StringIO()
    with redirect_stdout(out):
        quality_main(
            ["--data-dir", str(clean_lake.settings.data_dir), "summary", "--format", "json"]
        )
    data = json.loads(out.getvalue())
    assert data["runs"] == ["run-clean"]
