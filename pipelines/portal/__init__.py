"""The governance portal: quality, representativeness, lineage, PII, releases and audit in a
browser, read from what the pipeline already wrote (no copy of its own).

Two ways to serve the same FastAPI app (:func:`pipelines.portal.app.create_app`): inside
Airflow's api-server as a plugin behind Airflow's login (:mod:`pipelines.portal.plugin`), or
standalone on localhost for the embedded default (``pipelines portal``). Access is by role
(:mod:`pipelines.portal.access`); every page and API endpoint checks it.
"""
