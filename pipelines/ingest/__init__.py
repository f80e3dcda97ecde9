"""Protected ingestion: landing files -> typed, checked, protected lake partitions."""

from pipelines.ingest.run import IngestionError, IngestResult, ingest_table

__all__ = ["IngestResult", "IngestionError", "ingest_table"]
