"""Representativeness and drift statistics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from pipelines.quality import stats
from pipelines.quality.reference import grouped

P = {"a": 0.5, "b": 0.5}
Q = {"a": 0.25, "b": 0.75}


def test_total_variation_distance():
    # 1/2 (|0.5 - 0.25| + |0.5 - 0.75|) = 0.25
    assert stats.total_variation(P, Q) == pytest.approx(0.25)
    assert stats.total_variation(P, P) == 0
    assert stats.total_variation({"a": 1.0}, {"b": 1.0}) == pytest.approx(1.0)


def test_population_stability_index():
    # (0.5 - 0.25) ln(0.5 / 0.25) + (0.5 - 0.75) ln(0.5 / 0.75)
    #   = 0.25 * 0.693147 + 0.25 * 0.405465 = 0.274653
    assert stats.psi(P, Q) == pytest.approx(0.274653, abs=1e-6)
    assert stats.psi(P, P) == 0


def test_psi_smooths_empty_segments_with_epsilon():
    # b is empty in the batch: its share is raised to epsilon = 1e-4
    # (1 - 0.5) ln(1 / 0.5) + (1e-4 - 0.5) ln(1e-4 / 0.5) = 0.346574 + 4.257745 = 4.604318
    assert stats.psi({"a": 1.0}, {"a": 0.5, "b": 0.5}) == pytest.approx(4.604318, abs=1e-6)
    assert math.isfinite(stats.psi({"a": 1.0}, {"b": 1.0}))
    with pytest.raises(ValueError):
        stats.psi(P, Q, epsilon=0)


def test_jensen_shannon_distance_base_2():
    # m = (0.375, 0.625)
    # KL(p||m) = 0.5 log2(0.5/0.375) + 0.5 log2(0.5/0.625) = 0.046554
    # KL(q||m) = 0.25 log2(0.25/0.375) + 0.75 log2(0.75/0.625) = 0.051035
    # JSD = (0.046554 + 0.051035) / 2 = 0.048795; distance = sqrt(JSD) = 0.220896
    assert stats.js_distance(P, Q) == pytest.approx(0.220896, abs=1e-6)
    assert stats.js_distance(P, P) == 0
    assert stats.js_distance({"a": 1.0}, {"b": 1.0}) == pytest.approx(1.0)  # disjoint: maximum


def test_representation_ratio_needs_a_minimum_count():
    counts = {"a": 60, "b": 30, "c": 10}  # n = 100
    reference = {"a": 0.5, "b": 0.3, "c": 0.1, "d": 0.1}
    ratios = stats.representation_ratios(counts, reference, min_count=20)
    assert ratios["a"] == pytest.approx(1.2)  # 0.6 / 0.5
    assert ratios["b"] == pytest.approx(1.0)
    assert ratios["c"] is None and ratios["d"] is None  # 10 seen, 10 expected: too few
    ratios = stats.representation_ratios(counts, reference, min_count=10)
    assert ratios["c"] == pytest.approx(1.0) and ratios["d"] == 0.0
    # a segment the reference does not have, seen often enough: infinitely over-represented
    assert stats.representation_ratios({"x": 30}, {"a": 1.0}, 20)["x"] == math.inf


def test_small_segments_are_pooled_before_the_column_statistics():
    counts, ref = stats.pool_small({"a": 90, "b": 5, "c": 5}, {"a": 0.8, "b": 0.1, "c": 0.1}, 20)
    assert counts == {"a": 90, stats.POOLED: 10}
    assert ref == pytest.approx({"a": 0.8, stats.POOLED: 0.2})


def test_grouping_values_into_segments():
    groups = {"SP": "sudeste", "RJ": "sudeste", "RS": "sul"}
    assert grouped({"SP": 5, "RJ": 3, "RS": 2, "XX": 1}, groups) == {
        "sudeste": 8,
        "sul": 2,
        "XX": 1,
    }
    assert grouped({"SP": 0.5, "RJ": 0.25, "RS": 0.25}, groups) == {
        "sudeste": 0.75,
        "sul": 0.25,
    }


def test_compare_levels_against_thresholds():
    reference = {"delivered": 0.97, "canceled": 0.03}
    same = stats.compare({"delivered": 970, "canceled": 30}, reference)
    assert same.evaluated and same.level == "pass" and same.psi == pytest.approx(0.0)
    # the Olist sample's skew: 64% delivered
    skewed = stats.compare({"delivered": 640, "canceled": 360}, reference)
    assert skewed.level == "fail"
    assert skewed.tvd == pytest.approx(0.33)
    assert skewed.levels["psi"] == "fail" and skewed.levels["tvd"] == "fail"
    ratios = {s["segment"]: s["ratio"] for s in skewed.segments}
    assert ratios["delivered"] == pytest.approx(0.64 / 0.97, abs=1e-6)
    assert ratios["canceled"] == pytest.approx(12.0)


def test_compare_does_not_judge_small_batches_or_missing_references():
    small = stats.compare({"a": 10}, {"a": 0.5, "b": 0.5}, min_rows=200)
    assert not small.evaluated and small.level == "pass" and "min_rows" in (small.reason or "")
    none = stats.compare({"a": 500}, {})
    assert not none.evaluated and none.reason == "no reference distribution"


def test_thresholds_defaults_and_overrides():
    default = stats.Thresholds()
    assert (default.psi.warn, default.psi.fail) == (0.10, 0.25)
    custom = stats.Thresholds.from_dict(
        {"psi": {"warn": 0.2, "fail": 0.5}, "ratio": {"fail": [0.4, 3]}}
    )
    assert custom.psi.level(0.3) == "warn" and custom.psi.level(0.5) == "fail"
    assert custom.ratio.level(0.45) == "warn" and custom.ratio.level(0.4) == "fail"
    assert custom.tvd == default.tvd
    with pytest.raises(ValueError):
        stats.Thresholds.from_dict({"psi": {"warn": 0.5, "fail": 0.1}})
    with pytest.raises(ValueError):
        stats.Thresholds.from_dict({"kl": {"warn": 1, "fail": 2}})
