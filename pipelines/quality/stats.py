"""Representativeness and drift statistics: pure functions on segment counts and shares.

A *distribution* is a mapping ``segment -> share`` (shares sum to 1). Given the counts of a
batch and a reference distribution (a declared population, or the previous good batch):

* **total variation distance** ``TVD = 1/2 * sum |p - q|`` (0: identical, 1: disjoint);
* **population stability index** ``PSI = sum (p - q) * ln(p / q)``, with every share below
  ``epsilon`` raised to ``epsilon`` first (smoothing: a segment empty on one side would make
  it infinite); 0.1 and 0.25 are the customary "watch" and "act" levels;
* **Jensen-Shannon distance** in base 2, ``sqrt(JSD)``, ``JSD = 1/2 KL(p||m) + 1/2 KL(q||m)``,
  ``m = (p + q) / 2`` (0: identical, 1: disjoint; needs no smoothing);
* **representation ratio** per segment, ``current share / reference share``, evaluated only
  when the segment's current or expected count (``n * reference share``) reaches
  ``min_count``, so a handful of rows cannot raise an alarm.

Before the column statistics are taken, segments whose current *and* expected counts are
both below ``min_count`` are pooled into one segment (:data:`POOLED`): small segments would
otherwise add sampling noise of roughly ``(segments - 1) / n`` to PSI.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

POOLED = "__pooled__"
"""The segment that holds every segment too small to judge on its own."""
OTHER = "__other__"
"""Values outside the reference's declared segments (never named, so never echoed)."""
MISSING = "__missing__"
"""NULL values, when the reference declares a share for them."""

DEFAULT_EPSILON = 1e-4
DEFAULT_MIN_COUNT = 100
DEFAULT_MIN_ROWS = 200


@dataclass(frozen=True)
class Band:
    """Warn and fail levels of one statistic: larger is worse."""

    warn: float
    fail: float

    def level(self, value: float | None) -> str:
        if value is None:
            return "pass"
        if value >= self.fail:
            return "fail"
        if value >= self.warn:
            return "warn"
        return "pass"


@dataclass(frozen=True)
class RatioBand:
    """Acceptable representation ratios: inside ``[warn_low, warn_high]`` passes."""

    warn_low: float
    warn_high: float
    fail_low: float
    fail_high: float

    def level(self, ratio: float | None) -> str:
        if ratio is None:
            return "pass"
        if ratio <= self.fail_low or ratio >= self.fail_high:
            return "fail"
        if ratio < self.warn_low or ratio > self.warn_high:
            return "warn"
        return "pass"


@dataclass(frozen=True)
class Thresholds:
    """Warn/fail levels per statistic. Defaults (overridable per suite, see ``expectations/``):

    * PSI: warn 0.10, fail 0.25 (the customary levels);
    * TVD: warn 0.10, fail 0.20 (a tenth / a fifth of the mass in the wrong segments);
    * JS distance (base 2): warn 0.13, fail 0.21, where PSI reaches 0.10 / 0.25 for small
      shifts (then JSD is about PSI / 8 nats);
    * representation ratio: warn outside [0.67, 1.5], fail at or beyond 0.5 or 2.0.
    """

    psi: Band = Band(0.10, 0.25)
    tvd: Band = Band(0.10, 0.20)
    js: Band = Band(0.13, 0.21)
    ratio: RatioBand = RatioBand(0.67, 1.5, 0.5, 2.0)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Thresholds:
        """From ``{psi: {warn, fail}, tvd: ..., js: ..., ratio: {warn: [lo, hi], fail: [lo, hi]}}``."""
        base = cls()
        if not raw:
            return base
        unknown = set(raw) - {"psi", "tvd", "js", "ratio"}
        if unknown:
            raise ValueError(f"unknown threshold(s): {', '.join(sorted(unknown))}")

        def band(name: str, default: Band) -> Band:
            spec = raw.get(name)
            if spec is None:
                return default
            value = Band(
                float(spec.get("warn", default.warn)), float(spec.get("fail", default.fail))
            )
            if not 0 <= value.warn <= value.fail:
                raise ValueError(f"{name}: need 0 <= warn <= fail, got {value}")
            return value

        ratio = base.ratio
        if "ratio" in raw:
            spec = raw["ratio"]
            warn = spec.get("warn", [ratio.warn_low, ratio.warn_high])
            fail = spec.get("fail", [ratio.fail_low, ratio.fail_high])
            ratio = RatioBand(float(warn[0]), float(warn[1]), float(fail[0]), float(fail[1]))
            if not 0 <= ratio.fail_low <= ratio.warn_low <= 1 <= ratio.warn_high <= ratio.fail_high:
                raise ValueError(
                    f"ratio: need 0 <= fail_low <= warn_low <= 1 <= warn_high <= fail_high, got {ratio}"
                )
        return cls(
            psi=band("psi", base.psi),
            tvd=band("tvd", base.tvd),
            js=band("js", base.js),
            ratio=ratio,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "psi": {"warn": self.psi.warn, "fail": self.psi.fail},
            "tvd": {"warn": self.tvd.warn, "fail": self.tvd.fail},
            "js": {"warn": self.js.warn, "fail": self.js.fail},
            "ratio": {
                "warn": [self.ratio.warn_low, self.ratio.warn_high],
                "fail": [self.ratio.fail_low, self.ratio.fail_high],
            },
        }


def shares(counts: Mapping[str, float]) -> dict[str, float]:
    """Counts to shares (all zero when the total is zero)."""
    total = float(sum(counts.values()))
    return {k: (v / total if total else 0.0) for k, v in counts.items()}


def _support(p: Mapping[str, float], q: Mapping[str, float]) -> list[str]:
    return sorted(set(p) | set(q))


def total_variation(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in _support(p, q))


def psi(p: Mapping[str, float], q: Mapping[str, float], epsilon: float = DEFAULT_EPSILON) -> float:
    """Population stability index of current ``p`` against reference ``q`` (smoothed)."""
    if epsilon <= 0:
        raise ValueError("epsilon must be positive")
    value = 0.0
    for k in _support(p, q):
        a, b = max(p.get(k, 0.0), epsilon), max(q.get(k, 0.0), epsilon)
        value += (a - b) * math.log(a / b)
    return value


def js_distance(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Jensen-Shannon distance, base 2 (the square root of the divergence), in [0, 1]."""
    divergence = 0.0
    for k in _support(p, q):
        a, b = p.get(k, 0.0), q.get(k, 0.0)
        m = (a + b) / 2
        if a > 0:
            divergence += 0.5 * a * math.log2(a / m)
        if b > 0:
            divergence += 0.5 * b * math.log2(b / m)
    return math.sqrt(max(divergence, 0.0))


def representation_ratios(
    counts: Mapping[str, int], reference: Mapping[str, float], min_count: int = DEFAULT_MIN_COUNT
) -> dict[str, float | None]:
    """``current share / reference share`` per segment; None where too small to judge.

    A segment is judged when its current count or its expected count (``n * share``)
    reaches ``min_count``. A judged segment with reference share 0 has ratio ``inf``.
    """
    n = sum(counts.values())
    out: dict[str, float | None] = {}
    for k in _support(counts, reference):
        count, ref = counts.get(k, 0), reference.get(k, 0.0)
        if n == 0 or max(count, n * ref) < min_count:
            out[k] = None
        elif ref == 0:
            out[k] = math.inf
        else:
            out[k] = (count / n) / ref
    return out


def pool_small(
    counts: Mapping[str, int], reference: Mapping[str, float], min_count: int = DEFAULT_MIN_COUNT
) -> tuple[dict[str, int], dict[str, float]]:
    """Pool segments whose current and expected counts are both below ``min_count``."""
    n = sum(counts.values())
    pooled_counts: dict[str, int] = {}
    pooled_ref: dict[str, float] = {}
    for k in _support(counts, reference):
        count, ref = counts.get(k, 0), reference.get(k, 0.0)
        key = k if max(count, n * ref) >= min_count else POOLED
        pooled_counts[key] = pooled_counts.get(key, 0) + count
        pooled_ref[key] = pooled_ref.get(key, 0.0) + ref
    return pooled_counts, pooled_ref


@dataclass
class Comparison:
    """Everything a representativeness or drift check reports about one column."""

    rows: int
    evaluated: bool
    reason: str | None
    tvd: float | None
    psi: float | None
    js: float | None
    segments: list[dict[str, Any]] = field(default_factory=list)
    levels: dict[str, str] = field(default_factory=dict)

    @property
    def level(self) -> str:
        order = {"pass": 0, "warn": 1, "fail": 2}
        worst = max((order[v] for v in self.levels.values()), default=0)
        return {0: "pass", 1: "warn", 2: "fail"}[worst]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "evaluated": self.evaluated,
            "reason": self.reason,
            "level": self.level,
            "tvd": _round(self.tvd),
            "psi": _round(self.psi),
            "js_distance": _round(self.js),
            "levels": dict(self.levels),
            "segments": self.segments,
        }


def _round(value: float | None) -> float | None:
    if value is None:
        return None
    return round(value, 6)


def compare(
    counts: Mapping[str, int],
    reference: Mapping[str, float],
    thresholds: Thresholds | None = None,
    *,
    min_count: int = DEFAULT_MIN_COUNT,
    min_rows: int = DEFAULT_MIN_ROWS,
    epsilon: float = DEFAULT_EPSILON,
) -> Comparison:
    """Compare a batch's segment ``counts`` with a ``reference`` distribution."""
    thresholds = thresholds or Thresholds()
    n = int(sum(counts.values()))
    ref_total = sum(reference.values())
    if not reference or ref_total <= 0:
        return Comparison(n, False, "no reference distribution", None, None, None)
    reference = {k: v / ref_total for k, v in reference.items()}
    ratios = representation_ratios(counts, reference, min_count)
    segments: list[dict[str, Any]] = []
    for k in sorted(ratios, key=lambda s: (-reference.get(s, 0.0), s)):
        count = int(counts.get(k, 0))
        ratio = ratios[k]
        segments.append(
            {
                "segment": k,
                "count": count,
                "share": _round(count / n) if n else 0.0,
                "reference_share": _round(reference.get(k, 0.0)),
                "expected_count": _round(n * reference.get(k, 0.0)),
                "ratio": None if ratio is None or math.isinf(ratio) else _round(ratio),
                "level": "fail"
                if ratio is not None and math.isinf(ratio)
                else thresholds.ratio.level(ratio),
                "judged": ratio is not None,
            }
        )
    if n < min_rows:
        return Comparison(
            n,
            False,
            f"{n} rows, fewer than min_rows={min_rows}: not evaluated",
            None,
            None,
            None,
            segments=[{**s, "level": "pass", "judged": False} for s in segments],
        )
    pooled_counts, pooled_ref = pool_small(counts, reference, min_count)
    p, q = shares(pooled_counts), pooled_ref
    result = Comparison(
        n, True, None, total_variation(p, q), psi(p, q, epsilon), js_distance(p, q), segments
    )
    order = {"pass": 0, "warn": 1, "fail": 2}
    ratio_level = "pass"
    for s in segments:
        level = str(s["level"])
        if order[level] > order[ratio_level]:
            ratio_level = level
    result.levels = {
        "tvd": thresholds.tvd.level(result.tvd),
        "psi": thresholds.psi.level(result.psi),
        "js_distance": thresholds.js.level(result.js),
        "ratio": ratio_level,
    }
    return result


def explain(comparison: Comparison, thresholds: Thresholds) -> dict[str, Any]:
    """What a person acts on when a comparison warns or fails: the segments off their
    reference (most of the batch's mass off first, at most three) and every statistic at or past its band, with the
    threshold it reached. Segment names are the reference's declared segments only."""
    if not comparison.evaluated or comparison.level == "pass":
        return {}
    bands = {"tvd": thresholds.tvd, "psi": thresholds.psi, "js_distance": thresholds.js}
    values = {"tvd": comparison.tvd, "psi": comparison.psi, "js_distance": comparison.js}
    reached = {
        stat: {"value": _round(values[stat]), level: getattr(bands[stat], level)}
        for stat, level in comparison.levels.items()
        if stat in bands and level != "pass"
    }
    judged = [s for s in comparison.segments if s["judged"]]
    off = [s for s in judged if s["level"] != "pass"]
    if not off and judged:  # the distance failed, no single segment did: show the largest gap
        off = [max(judged, key=lambda s: abs(s["share"] - s["reference_share"]))]
    off.sort(key=lambda s: -abs(s["share"] - s["reference_share"]))  # most mass off first
    keep = ("segment", "share", "reference_share", "ratio", "level")
    return {"segments_off": [{k: s[k] for k in keep} for s in off[:3]], "reached": reached}
