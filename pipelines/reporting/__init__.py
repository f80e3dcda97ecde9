"""Lineage reporting: what the recorded events say, read back (``pipelines lineage ...``).

The lineage store (DuckDB, rebuilt from the event log), the dataset and column graph, column
and model traces, PII propagation and the lineage page. It reads only what the pipeline
recorded (the OpenLineage events), never a stage's code; emitting events is
:mod:`pipelines.lineage`.
"""
