"""Deterministic, seeded sample data in the Olist e-commerce layout (plus synthetic profiles).

``generate(out, orders=...)`` writes ``out/<YYYY-MM-DD>/<file_stem>.<ext>`` delivery folders
whose columns come from the source contracts, optionally with known injected defects, and a
``out/_generation.json`` describing the run. See :mod:`pipelines.generate.distributions` for
the reference shares it samples from and ``pipelines generate --help`` for the command line.
"""

from pipelines.generate.defects import KINDS as DEFECT_KINDS
from pipelines.generate.report import GenerationReport
from pipelines.generate.run import generate, orders_for_items
from pipelines.generate.writers import FORMATS

__all__ = ["DEFECT_KINDS", "FORMATS", "GenerationReport", "generate", "orders_for_items"]
