"""What the lineage store holds after a run, for the demo's closing summary."""

from __future__ import annotations

from pipelines.settings import Settings


def print_lineage(settings: Settings) -> int:
    """Rebuild the store, write the lineage page and print counts; 1 if a mart holds PII."""
    from pipelines.reporting.graph import load_graph
    from pipelines.reporting.page import page_path, write_page
    from pipelines.reporting.pii import mart_violations, pii_derived
    from pipelines.reporting.store import event_source, has_events, open_store

    if not has_events(event_source(settings)):
        print("Lineage: no events recorded")
        return 1
    with open_store(settings) as con:
        counts = {
            t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
            for t in ("events", "runs", "datasets", "column_edges", "assertions")
        }
        graph = load_graph(con)
        page = write_page(con, page_path(settings))
    masking = sum(1 for e in graph.edges if e.masking)
    violations = mart_violations(pii_derived(graph))
    print(
        f"Lineage (OpenLineage): {counts['events']:,} events, {counts['runs']:,} runs, "
        f"{counts['datasets']:,} datasets, {counts['column_edges']:,} column edges "
        f"({masking} masking), {counts['assertions']:,} quality assertions"
    )
    print(
        "feature columns from clear PII: "
        + (", ".join(graph.label(f.column) for f in violations) if violations else "none")
    )
    print(f"lineage page:      {page}")
    print(f"event log:         {event_source(settings)}")
    print("trace a feature:   .venv/bin/pipelines lineage trace customer_features.orders")
    return 1 if violations else 0
