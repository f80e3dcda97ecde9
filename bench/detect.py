"""Free-text detection: accuracy on the labelled corpus, and scrubbing throughput.

    python -m bench.detect                                  # corpus table + throughput
    python -m bench.detect --workdir .data/bench-1000000    # throughput on bench.ingest's reviews

1. Accuracy: recall and precision per entity on the labelled corpus of the tests
   (``tests/unit/protection/detect_corpus.py``, seed 13), and on 40 held-out seeds of the same
   generator (values the detectors were not tuned on). Printed as the Markdown table of
   BENCHMARKS.md.
2. Throughput: texts per second through :func:`~pipelines.protection.detect.scrub_arrow`
   (vectorised prefilter, then the Python detectors on flagged texts only) against
   :func:`~pipelines.protection.detect.redact_text` on every text (no prefilter). The texts are
   the review titles and messages of a ``bench.ingest`` landing tree when ``--workdir`` is
   given (what ingestion scrubs), else the corpus mixed with plain review sentences.

Results go to ``bench/results/detect.json`` too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

import pyarrow as pa

from bench.ingest import ROOT
from pipelines.protection.detect import Entity, candidates, redact_text, scrub_arrow
from tests.unit.protection.detect_corpus import SEED, Score, corpus, score

HELD_OUT = range(100, 140)
_PLAIN = [
    "Produto chegou antes do prazo, recomendo.",
    "Não recebi o produto até agora",
    "Great product, fast delivery",
    "Goed product, snel geleverd.",
    "Veio com defeito, quero trocar",
    "ótimo",
    "Comprei 2 unidades e veio só 1",
]


def accuracy() -> dict[str, dict[str, dict[str, float | int]]]:
    out: dict[str, dict[str, dict[str, float | int]]] = {}
    for name, seeds in (("corpus", [SEED]), ("held_out", list(HELD_OUT))):
        total = {e: Score() for e in Entity}
        for seed in seeds:
            scores, _ = score(corpus(seed))
            for e, s in scores.items():
                t = total[e]
                t.expected += s.expected
                t.found += s.found
                t.reported += s.reported
                t.correct += s.correct
        out[name] = {
            e.value: {"n": s.expected, "recall": s.recall, "precision": s.precision}
            for e, s in total.items()
        }
    return out


def _review_texts(workdir: Path) -> list[str]:
    import duckdb

    files = sorted(str(p) for p in (workdir / "landing").rglob("olist_order_reviews_dataset*"))
    if not files:
        raise SystemExit(f"no order_reviews files under {workdir / 'landing'}: run bench.ingest")
    rows = duckdb.sql(
        "SELECT review_comment_title, review_comment_message "
        f"FROM read_csv({files!r}, all_varchar=true, union_by_name=true)"
    ).fetchall()
    return [t for row in rows for t in row if t is not None]


def _synthetic_texts(n: int) -> list[str]:
    rng = random.Random(5)
    labelled = [s.text for s in corpus()]
    return [rng.choice(labelled) if rng.random() < 0.05 else rng.choice(_PLAIN) for _ in range(n)]


def throughput(texts: list[str], sample: int) -> dict[str, float | int]:
    values = pa.array(texts, pa.string())
    start = time.perf_counter()
    flagged = candidates(values)
    prefilter_s = time.perf_counter() - start
    start = time.perf_counter()
    scrub_arrow(values, "BR")
    with_prefilter_s = time.perf_counter() - start
    subset = texts[:sample]
    start = time.perf_counter()
    for t in subset:
        redact_text(t, "BR")
    without_s = time.perf_counter() - start
    return {
        "texts": len(texts),
        "flagged": int(flagged.true_count),
        "prefilter_texts_per_s": len(texts) / prefilter_s,
        "scrub_arrow_texts_per_s": len(texts) / with_prefilter_s,
        "redact_every_text_texts_per_s": len(subset) / without_s,
    }


def _table(acc: dict) -> str:
    lines = [
        "| entity | values (corpus) | recall | precision | values (40 held-out seeds) | recall | precision |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in Entity:
        c, h = acc["corpus"][e.value], acc["held_out"][e.value]
        lines.append(
            f"| {e.value} | {c['n']} | {c['recall']:.3f} | {c['precision']:.3f} | "
            f"{h['n']} | {h['recall']:.4f} | {h['precision']:.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, help="a bench.ingest work dir (its reviews)")
    parser.add_argument("--texts", type=int, default=200_000, help="synthetic texts otherwise")
    parser.add_argument(
        "--sample", type=int, default=20_000, help="texts timed without the prefilter"
    )
    args = parser.parse_args(argv)
    acc = accuracy()
    print(_table(acc))
    texts = _review_texts(args.workdir) if args.workdir else _synthetic_texts(args.texts)
    speed = throughput(texts, args.sample)
    print(
        f"\n{speed['texts']:,} texts, {speed['flagged']:,} flagged by the prefilter "
        f"({speed['flagged'] / speed['texts']:.1%})\n"
        f"prefilter alone:            {speed['prefilter_texts_per_s']:>12,.0f} texts/s\n"
        f"scrub_arrow (prefilter):    {speed['scrub_arrow_texts_per_s']:>12,.0f} texts/s\n"
        f"redact_text on every text:  {speed['redact_every_text_texts_per_s']:>12,.0f} texts/s "
        f"(first {min(args.sample, len(texts)):,})\n"
        f"load average: {os.getloadavg()[0]:.2f} (2 cores, shared)"
    )
    out = ROOT / "bench" / "results" / "detect.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"accuracy": acc, "throughput": speed}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
