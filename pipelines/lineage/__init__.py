"""OpenLineage emission (events, facets, transports) and the lineage store, trace and page."""
