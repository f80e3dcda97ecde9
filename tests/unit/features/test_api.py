"""The ML API serves published snapshots only, by date or run, and joins point in time."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from pipelines.features import FeatureNotFound, load_features, load_history, training_set
from pipelines.features.paths import snapshot_file
from pipelines.features.release import Release
from pipelines.features.snapshots import write_release
from pipelines.settings import Settings


def _publish(settings: Settings, as_of: str, counts: dict[str, int], status: str = "published"):
    day = date.fromisoformat(as_of)
    frame = pl.DataFrame(
        {
            "customer_unique_token": list(counts),
            "as_of_date": [day] * len(counts),
            "orders": list(counts.values()),
        }
    )
    path = snapshot_file(settings, "customer_features", day)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    release = Release(
        release_id=f"r-{as_of}",
        as_of=as_of,
        run_id=f"run-{as_of}",
        partitions=[],
        held_back=[],
        created_at="2018-01-01T00:00:00+00:00",
        status=status,
    )
    write_release(settings, release)


@pytest.fixture
def published(settings: Settings) -> Settings:
    _publish(settings, "2018-01-02", {"p1:a": 1})
    _publish(settings, "2018-01-03", {"p1:a": 2, "p1:b": 1})
    _publish(settings, "2018-01-04", {"p1:a": 5, "p1:b": 5}, status="failed")
    return settings


def test_latest_published_snapshot_is_the_default(published: Settings):
    fs = load_features("customer_features", purpose="churn", settings=published)
    assert fs.as_of == date(2018, 1, 3)  # the 2018-01-04 release failed its checks
    assert fs.release.release_id == "r-2018-01-03"
    assert dict(zip(fs.frame["customer_unique_token"], fs.frame["orders"], strict=True)) == {
        "p1:a": 2,
        "p1:b": 1,
    }


def test_as_of_picks_the_latest_snapshot_on_or_before_the_date(published: Settings):
    assert load_features(
        "customer_features", "2018-01-02", purpose="churn", settings=published
    ).as_of == date(2018, 1, 2)
    assert load_features(
        "customer_features", date(2018, 1, 9), purpose="churn", settings=published
    ).as_of == (date(2018, 1, 3))
    with pytest.raises(FeatureNotFound, match="as of 2018-01-01 or earlier"):
        load_features("customer_features", "2018-01-01", purpose="churn", settings=published)


def test_by_run_and_unknown_names(published: Settings):
    assert load_features(
        "customer_features", run_id="run-2018-01-02", purpose="churn", settings=published
    ).as_of == date(2018, 1, 2)
    with pytest.raises(FeatureNotFound, match="run-2018-01-04"):
        load_features(
            "customer_features", run_id="run-2018-01-04", purpose="churn", settings=published
        )
    with pytest.raises(FeatureNotFound, match="available: customer_features"):
        load_features("customers", purpose="churn", settings=published)


def test_export_copies_the_snapshot_byte_for_byte(published: Settings, tmp_path):
    fs = load_features("customer_features", purpose="churn", settings=published)
    out = fs.export(tmp_path / "out" / "features.parquet", settings=published)
    assert out.read_bytes() == fs.file.read_bytes()


def test_history_stacks_published_snapshots_only(published: Settings):
    history = load_history("customer_features", purpose="churn", settings=published)
    assert sorted(set(history["as_of_date"].to_list())) == [date(2018, 1, 2), date(2018, 1, 3)]


def test_training_set_uses_features_from_before_each_event(published: Settings):
    labels = pl.DataFrame(
        {
            "customer_unique_token": ["p1:a", "p1:a", "p1:a", "p1:b", "p1:b"],
            "event_time": [
                datetime(2018, 1, 1, 12),  # no snapshot before it
                datetime(2018, 1, 2, 0, 0),  # the 01-02 snapshot saw events before 01-02 00:00
                datetime(2018, 1, 3, 23, 59),
                datetime(2018, 1, 2, 9),  # b has no 01-02 features
                datetime(2018, 1, 7, 9),  # 01-04 was not published: 01-03 is the latest
            ],
            "label": [0, 1, 0, 1, 1],
        }
    )
    out = training_set(
        labels,
        "customer_features",
        key="customer_unique_token",
        time_column="event_time",
        purpose="churn",
        settings=published,
    )
    assert out["label"].to_list() == [0, 1, 0, 1, 1]  # label order kept
    assert out["feature_as_of"].to_list() == [
        None,
        date(2018, 1, 2),
        date(2018, 1, 3),
        None,
        date(2018, 1, 3),
    ]
    assert out["orders"].to_list() == [None, 1, 2, None, 1]
    assert all(
        f is None or f <= t.date()
        for f, t in zip(out["feature_as_of"], out["event_time"], strict=True)
    )


def test_training_set_accepts_time_zone_aware_times(published: Settings):
    labels = pl.DataFrame(
        {"customer_unique_token": ["p1:a"], "event_time": [datetime(2018, 1, 3, 1)]}
    ).with_columns(pl.col("event_time").dt.replace_time_zone("America/Sao_Paulo"))
    # 01:00 in São Paulo is 04:00 UTC on 2018-01-03: the 01-03 snapshot applies
    out = training_set(
        labels,
        "customer_features",
        key="customer_unique_token",
        time_column="event_time",
        purpose="churn",
        settings=published,
    )
    assert out["feature_as_of"].to_list() == [date(2018, 1, 3)]


def test_a_snapshot_changed_after_publication_is_never_served(settings: Settings, tmp_path):
    """Exports and loads read the file the publish decision hashed, or nothing."""
    from pipelines.features.api import SnapshotIntegrityError
    from pipelines.features.snapshots import read_release
    from pipelines.hashing import file_sha256

    _publish(settings, "2018-01-02", {"p1:a": 1})
    path = snapshot_file(settings, "customer_features", date(2018, 1, 2))
    release = read_release(settings, date(2018, 1, 2))
    release.features = {"customer_features": {"decided_sha256": file_sha256(path)}}
    write_release(settings, release)
    assert load_features("customer_features", purpose="churn", settings=settings).frame[
        "orders"
    ].to_list() == [1]

    pl.DataFrame(  # the same rows, the value multiplied by 100
        {"customer_unique_token": ["p1:a"], "as_of_date": [date(2018, 1, 2)], "orders": [100]}
    ).write_parquet(path)
    with pytest.raises(SnapshotIntegrityError) as error:
        load_features("customer_features", purpose="churn", settings=settings)
    message = str(error.value)
    assert "customer_features as of 2018-01-02" in message and str(path) in message
    assert f"expected SHA-256 {release.features['customer_features']['decided_sha256']}" in message
    assert "pipelines features build --as-of 2018-01-02" in message
    with pytest.raises(SnapshotIntegrityError):
        load_history("customer_features", purpose="churn", settings=settings)


def test_a_use_against_policy_is_refused_with_who_can_approve(published: Settings):
    from pipelines.policy import PurposeRefused

    labels = pl.DataFrame(
        {"customer_unique_token": ["p1:a"], "event_time": [datetime(2018, 1, 3, 1)]}
    )
    with pytest.raises(PurposeRefused) as err:
        load_features("customer_features", purpose="credit_scoring", settings=published)
    assert "ml-lead@example.com" in str(err.value)
    for purpose in ("fraud", ""):
        with pytest.raises((PurposeRefused, ValueError)):
            training_set(
                labels,
                "customer_features",
                key="customer_unique_token",
                time_column="event_time",
                purpose=purpose,
                settings=published,
            )
    with pytest.raises(PurposeRefused):
        load_history("customer_features", purpose="fraud", settings=published)
    fs = load_features("customer_features", purpose="churn", settings=published)
    assert fs.purpose == "churn"


def test_an_export_to_a_destination_the_subjects_jurisdiction_refuses(
    published: Settings, tmp_path
):
    import yaml

    from pipelines.policy import TransferRefused

    policy = yaml.safe_load((published.policy_file).read_text())
    policy["destinations"] = [{"name": "us-share", "prefix": str(tmp_path), "jurisdiction": "US"}]
    (tmp_path / "policy.yml").write_text(yaml.safe_dump(policy))
    us = published.model_copy(update={"policy_file": tmp_path / "policy.yml"})
    fs = load_features("customer_features", purpose="churn", settings=us)
    with pytest.raises(TransferRefused, match="subjects are in BR, which allows BR, EU, not US"):
        fs.export(tmp_path / "out.parquet", settings=us)
    assert not (tmp_path / "out.parquet").exists()
