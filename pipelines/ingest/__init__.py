"""Protected ingestion: landing files -> typed, checked, protected lake partitions."""

from pipelines.ingest.interval import Interval
from pipelines.ingest.run import IngestionError, IngestResult, ingest_table

__all__ = ["IngestResult", "IngestionError", "Interval", "ingest_table"]
