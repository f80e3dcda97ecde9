"""Micro-benchmark: the vectorised AES-SIV (``Encryptor.encrypt_arrow``) against
``cryptography``'s ``AESSIV.encrypt`` called once per value (``Encryptor.encrypt_many``).

    python -m bench.siv --values 1000000 --repeat 3
    python -m bench.siv --ingest .data/bench-1m --repeat 2      # the whole pipeline, both ways

Values are e-mail addresses and phone numbers of the generator's lengths (what ingestion
encrypts: ``customer_profiles.email`` and ``.phone``). Both paths produce the same tokens (the
harness checks it on every run); the best of ``--repeat`` runs of each is reported, and the
extra seconds the library path would add to the ``bench.ingest`` run at 1M order items, which
encrypts about 1.74M values (17M at 10M order items; BENCHMARKS.md).

``--ingest WORKDIR`` measures what decides: ``bench.ingest``'s pipeline phase (every table,
1M order items, generated once into WORKDIR) with ingestion's encryption as it is and with
``encrypt_arrow`` replaced by the per-value library call, alternating, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import pyarrow as pa

from pipelines.protection import Encryptor, KeyRing

VALUES_PER_MILLION_ITEMS = 1_740_000
RESULTS = Path(__file__).resolve().parent / "results"


def _values(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    names = ["ana", "joao", "maria.souza", "pedro_h", "luiza1987", "carlos.eduardo.lima"]
    domains = ["example.com", "example.com.br", "mail.example.org"]
    out = []
    for i in range(n):
        if i % 2:
            out.append(f"{rng.choice(names)}{rng.randrange(10_000)}@{rng.choice(domains)}")
        else:
            out.append(f"+55 {rng.randrange(11, 99)} 9{rng.randrange(10**7, 10**8)}")
    return out


def _best(fn, repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The fastest wall time and the least CPU time (all threads) over ``repeat`` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def _library_encrypt_arrow(self: Encryptor, values: pa.Array, context: str) -> pa.Array:
    """``encrypt_arrow`` through ``AESSIV.encrypt``, one call per value."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return pa.array(self.encrypt_many(values.to_pylist(), context), pa.large_string())


def ingest(workdir: Path, items: int, repeat: int) -> dict[str, object]:
    from bench.ingest import ensure_landing, phase_pipeline

    ensure_landing(workdir, items, seed=7, days=7)
    vectorised = Encryptor.encrypt_arrow
    runs: dict[str, list[dict[str, float]]] = {"vectorised": [], "library": []}
    for _ in range(repeat):
        for name, method in (("vectorised", vectorised), ("library", _library_encrypt_arrow)):
            Encryptor.encrypt_arrow = method  # type: ignore[method-assign]
            wall, cpu = time.perf_counter(), time.process_time()
            result = phase_pipeline(workdir, None)
            runs[name].append(
                {
                    "wall_s": round(time.perf_counter() - wall, 2),
                    "cpu_s": round(time.process_time() - cpu, 2),
                    "customer_profiles_s": result["tables"]["customer_profiles"]["seconds"],
                }
            )
            print(name, runs[name][-1], flush=True)
    Encryptor.encrypt_arrow = vectorised  # type: ignore[method-assign]
    best = {name: min(r["wall_s"] for r in rs) for name, rs in runs.items()}
    return {
        "items": items,
        "runs": runs,
        "best_wall_s": best,
        "library_over_vectorised": round(best["library"] / best["vectorised"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ingest", type=Path, help="a bench.ingest work dir (generated once)")
    parser.add_argument("--items", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.ingest:
        whole = ingest(args.ingest, args.items, args.repeat)
        print(json.dumps(whole, indent=2))
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"siv-ingest-{args.items}.json").write_text(json.dumps(whole, indent=2) + "\n")
        return

    encryptor = Encryptor(KeyRing.generate())
    values = _values(args.values)
    array = pa.array(values, pa.string())
    context = "customer_profiles.email"
    ours = encryptor.encrypt_arrow(array, context).to_pylist()
    assert ours == encryptor.encrypt_many(values, context), "the two paths differ"

    vectorised, vectorised_cpu = _best(lambda: encryptor.encrypt_arrow(array, context), args.repeat)
    library, library_cpu = _best(
        lambda: pa.array(encryptor.encrypt_many(values, context)), args.repeat
    )
    extra = (library - vectorised) / args.values * VALUES_PER_MILLION_ITEMS
    result = {
        "values": args.values,
        "repeat": args.repeat,
        "vectorised_s": round(vectorised, 3),
        "library_s": round(library, 3),
        "vectorised_cpu_s": round(vectorised_cpu, 3),
        "library_cpu_s": round(library_cpu, 3),
        "vectorised_us_per_value": round(vectorised / args.values * 1e6, 3),
        "library_us_per_value": round(library / args.values * 1e6, 3),
        "library_over_vectorised": round(library / vectorised, 2),
        "extra_s_at_1m_order_items": round(extra, 2),
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"siv-{args.values}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
