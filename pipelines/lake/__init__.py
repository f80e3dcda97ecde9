"""The lake's format: data intervals, partitions and their manifests, atomic publication under
a partition lock, verified reads, and what a quarantine record holds.

Every stage that writes a lake partition (ingestion, the quality gate's quarantine and
reinstatement) publishes through :mod:`pipelines.lake.publish`; every reader takes its files
from :mod:`pipelines.lake.partitions`' verified reads.
"""
