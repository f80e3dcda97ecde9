"""Representativeness of a training set counts a value suppressed for k-anonymity ('*')
as missing, never as a state or age band of its own."""

from __future__ import annotations

import polars as pl

from pipelines.models.segments import representativeness, segment_frame
from pipelines.privacy.anonymity import SUPPRESSED


def test_suppressed_state_and_age_band_count_as_missing():
    training = pl.DataFrame(
        {
            "customer_unique_token": [f"p{i}" for i in range(8)],
            "customer_state": ["SP"] * 5 + ["RJ"] + [SUPPRESSED] * 2,
            "age_band": ["25-34"] * 6 + [SUPPRESSED] * 2,
        }
    )
    genders = pl.DataFrame(schema={"customer_unique_token": pl.Utf8, "gender": pl.Utf8})
    frame = segment_frame(training, genders)
    assert frame["customer_state"].null_count() == 2 and frame["region"].null_count() == 2
    views = {v["segment"]: v for v in representativeness(frame)}
    for view in ("customer_state", "region", "age_band"):
        assert views[view]["missing"] == 2
        assert SUPPRESSED not in {s["segment"] for s in views[view]["segments"]}
