"""docs/add-your-own-source.md, followed step by step on the real Online Retail II export.

The test only writes files (the shop's folder, landing files) and runs the guide's commands:
nothing under pipelines/, dags/ or dbt_project/ changes. Two days run through Airflow (`pipelines
run`: one Airflow process) with
only the shop's contract configured (the Olist feature package is off), the gate passes, each
release is published, the user's own feature mart loads, joins labels, and traces and
explains down to the landing lines.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.cli import main
from pipelines.demo import airflow_env
from pipelines.settings import PROJECT_DIR, Settings
from tests.conftest import InstallAirflowDb

pytestmark = [pytest.mark.integration, pytest.mark.first(36)]  # DAG runs: started first

EXPORT = (
    PROJECT_DIR.parent
    / "shared"
    / "data"
    / "online_retail_ii"
    / "online_retail_ii_2009_2010.csv.gz"
)
GUIDE = PROJECT_DIR / "docs" / "add-your-own-source.md"
EXAMPLES = PROJECT_DIR / "docs" / "examples"
DAYS = [date(2009, 12, 1) + timedelta(days=n) for n in range(2)]
SHOP_FILES = {  # example file -> where the guide puts it in the shop's folder
    "contracts/invoice_lines.yml": "contracts/invoice_lines.yml",
    "expectations/invoice_lines.yml": "expectations/invoice_lines.yml",
    "expectations/reference/online_retail_country.yml": (
        "expectations/reference/online_retail_country.yml"
    ),
    "models/features/customer_rfm.sql": "models/features/customer_rfm.sql",
    "models/features/customer_rfm.yml": "models/features/customer_rfm.yml",
    "policy.yml": "policy.yml",
}


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(list(args))
    out = capsys.readouterr().out
    assert code == 0, (args, out)
    return out


def _shop(root: Path, key_file: Path) -> Path:
    """Steps 1-5: the shop's folder with its contract, suite, reference and feature mart."""
    shop = root / "my-shop"
    for example, target in SHOP_FILES.items():
        (shop / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(EXAMPLES / example, shop / target)
    (shop / "pipelines.toml").write_text(
        f'data_dir = "{shop / "data"}"\n'
        f'contracts_dir = "{shop / "contracts"}"\n'
        f'expectations_dir = "{shop / "expectations"}"\n'
        f'dbt_models_dir = "{shop / "models"}"\n'
        f'policy_file = "{shop / "policy.yml"}"\n'
        f'key_file = "{key_file}"\n'
        "dag_start_date = 2009-12-01\n",
        encoding="utf-8",
    )
    return shop


def _deliver(landing: Path) -> None:
    """Step 3: one landing folder per day, each with that day's lines (the guide's query)."""
    con = duckdb.connect()
    for day in DAYS:
        folder = landing / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"COPY (SELECT * FROM read_csv('{EXPORT}', all_varchar = true) "
            f"WHERE InvoiceDate LIKE '{day.isoformat()}%') "
            f"TO '{folder / 'invoice_lines.csv'}' (HEADER)"
        )


def test_the_guide_shows_every_example_file_it_asks_for() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for example in SHOP_FILES:
        body = (EXAMPLES / example).read_text(encoding="utf-8")
        if not example.startswith("expectations/reference/"):  # 40 countries: shown in part
            assert body.strip() in text, f"{example} differs from the guide's copy"
    assert "add-your-own-source.md" in (PROJECT_DIR / "README.md").read_text(encoding="utf-8")


@pytest.mark.timeout(1200)  # two DAG runs in one Airflow process
@pytest.mark.skipif(
    not EXPORT.is_file(),
    reason=f"the Online Retail II export is not here: {EXPORT} (see ../shared/data/README.md)",
)
def test_the_guide_runs_a_shop_of_its_own_end_to_end(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    airflow_db: InstallAirflowDb,
) -> None:
    for var in ("PIPELINES_KEYS", "PIPELINES_KEY_FILE", "PIPELINES_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    key_file = tmp_path / "config" / "my-shop-keyring.json"  # never next to the data
    shop = _shop(tmp_path, key_file)
    toml = shop / "pipelines.toml"
    monkeypatch.setenv("PIPELINES_SETTINGS_FILE", str(toml))
    settings = Settings()
    assert settings.contracts_dir == shop / "contracts"

    _cli(capsys, "keys", "init", "--path", str(key_file))
    assert "1 contracts" in _cli(capsys, "contracts", "check")
    _deliver(settings.landing)

    # step 6: the days through Airflow (the Olist feature package is off: no Olist contracts)
    env = airflow_env(settings, {"PIPELINES_SETTINGS_FILE": str(toml)})
    airflow_db(env)
    end = (DAYS[-1] + timedelta(days=1)).isoformat()
    out = _cli(capsys, "run", "--from", DAYS[0].isoformat(), "--to", end)
    assert f"{len(DAYS)} of {len(DAYS)} interval(s) succeeded" in out, out[-6000:]
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as con:
        states = con.execute("SELECT task_id, state FROM task_instance").fetchall()
    tasks = {t for t, _ in states}
    assert {"ingest_invoice_lines", "quality_gate", "check_customer_rfm"} <= tasks
    assert not any("customer_features" in t or "orders" in t for t in tasks), tasks
    assert {s for _, s in states} == {"success"}, states

    # step 6's look at the run: row accounting, checks, releases
    assert "invoice_lines" in _cli(capsys, "summary")
    assert "invoice_lines" in _cli(capsys, "quality", "summary")

    # step 7: the releases, the features, a training set
    out = _cli(capsys, "features", "releases")
    assert "customer_rfm" in out and out.count("published") >= len(DAYS), out
    from pipelines.features import load_features, training_set

    fs = load_features("customer_rfm", purpose="churn")
    assert fs.as_of == DAYS[-1] + timedelta(days=1)
    assert fs.frame.height > 100
    assert fs.frame["customer_id"].str.starts_with("p1:").all()  # pseudonymized
    assert (fs.frame["returns"] > 0).any() and (
        fs.frame["monetary"] < fs.frame["gross_spend"]
    ).any()
    sample = fs.frame.head(5)
    labels = pl.DataFrame(
        {
            "customer_id": sample["customer_id"],
            "event_at": [f"{fs.as_of.isoformat()}T12:00:00Z"] * sample.height,
            "bought_again": [True, False, True, False, True][: sample.height],
        }
    ).with_columns(pl.col("event_at").str.to_datetime(time_zone="UTC"))
    joined = training_set(
        labels, "customer_rfm", key="customer_id", time_column="event_at", purpose="churn"
    )
    assert joined.height == sample.height
    assert joined["feature_as_of"].to_list() == [fs.as_of] * sample.height
    assert joined["monetary"].to_list() == sample["monetary"].to_list()

    # step 8: where a feature comes from: columns down to the export's, rows down to its lines
    trace = json.loads(
        _cli(capsys, "lineage", "trace", "customer_rfm.monetary", "--format", "json")
    )
    text = json.dumps(trace)
    assert "invoice_lines.csv" in text and '"Quantity"' in text and '"Price"' in text
    token = str(fs.frame.sort("frequency", descending=True)["customer_id"][0])
    explained = _cli(capsys, "lineage", "explain", "customer_rfm", token)
    assert re.search(r"2009-12-0[12]/invoice_lines\.csv:\d+", explained), explained
    assert "13085" not in explained and "Customer ID" not in explained
