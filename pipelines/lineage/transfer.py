"""The lineage backend is a destination: events about data derived from subjects go there
only if the policy's transfer rules allow it.

An event's datasets carry their subjects' jurisdictions (``pipelines_jurisdiction``,
:mod:`pipelines.lineage.jurisdiction`); their names, schemas and statistics are data derived
from those subjects. The local event log (``<data_dir>/lineage/events.jsonl``, or a file
transport) and this project's PostgreSQL event store (the state database) are in-house and
always allowed. A remote transport (``OPENLINEAGE_URL``,
``OPENLINEAGE__TRANSPORT__URL``, an ``openlineage.yml`` ``url``; ``pipelines lineage send
--url``) is looked up in the policy's ``destinations`` like any export.

Decision (docs/policy.md): an emitted event the rules refuse is **kept in-house, not sent**:
it is appended to the local event log instead (``pipelines lineage send`` can replay it to an
allowed backend later), a ``refused_transfer`` finding for the pipeline owner is opened (once
while it stays open) and a warning is logged. The pipeline never fails because of lineage.
``pipelines lineage send`` refuses the whole replay instead (a person asked for it).

Inside Airflow, where the OpenLineage provider emits a task's events with what the task
hands over (:mod:`pipelines.lineage.provider`), the same rule applies to the provider's
transport (:func:`provider_backends`): a refused hand-over gives the provider nothing that
derives from subjects, and our full event is kept in-house the same way.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import yaml

from pipelines.lineage import client
from pipelines.lineage.jurisdiction import KEY, policy_of
from pipelines.lineage.lines import append_line
from pipelines.lineage.transport import JsonLinesTransport, PostgresTransport
from pipelines.policy.enforce import TransferRefused, check_subjects
from pipelines.policy.findings import finding_id, open_finding, state_of
from pipelines.settings import Settings

log = logging.getLogger("pipelines.lineage")

WHAT = "lineage events"
_USERINFO = re.compile(r"(://)[^/@\s]+@")
_RECORDED: set[str] = set()


IN_HOUSE = ("file", "console")
"""Transport types that keep events on this machine (besides this project's own)."""
OWN_STORES = (JsonLinesTransport, PostgresTransport)
"""This project's own event stores, in-house like the local log: the JSON-lines file and the
state database of workers that share no disk (the ``lineage_url`` setting)."""


def _in_house(kind: str) -> bool:
    """A transport type (openlineage's name, our ``kind`` or a class path) that keeps events
    in-house."""
    own = {n for c in OWN_STORES for n in (c.kind, f"{c.__module__}.{c.__qualname__}")}
    return kind in IN_HOUSE or kind in own


def _file_config() -> dict[str, Any] | None:
    path = client._config_file()
    return None if path is None else _transport_in(path)


def _transport_in(path: Path) -> dict[str, Any] | None:
    """The ``transport`` of an ``openlineage.yml``, if it names a type."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    transport = data.get("transport") if isinstance(data, dict) else None
    return transport if isinstance(transport, dict) and transport.get("type") else None


def _env_config() -> dict[str, Any] | None:
    """``OPENLINEAGE__TRANSPORT__A__B=v`` variables as ``{"a": {"b": "v"}}``."""
    prefix = "OPENLINEAGE__TRANSPORT__"
    found: dict[str, Any] = {}
    for name, value in os.environ.items():
        if name.startswith(prefix):
            *path, last = name[len(prefix) :].lower().split("__")
            node = found
            for part in path:
                node = node.setdefault(part, {})
            if isinstance(node, dict):
                node[last] = value
    return found or None


def _remote(transport: dict[str, Any]) -> list[str]:
    """The targets of a transport that leave this machine (a composite's, each)."""
    kind = str(transport.get("type") or "")
    subs = transport.get("transports")
    if kind == "composite" or (not kind and subs):
        items = subs.values() if isinstance(subs, dict) else subs or []
        return [t for sub in items if isinstance(sub, dict) for t in _remote(sub)]
    if _in_house(kind):
        return []
    return [str(transport.get("url") or f"transport:{kind or 'unknown'}")]


def backends() -> list[str]:
    """Where the configured transport sends events outside this machine (credentials
    removed): none without a transport (the local event log) or with a file transport."""
    transport = _file_config() or _env_config()
    if transport is not None:
        targets = _remote(transport)
    else:
        targets = [os.environ["OPENLINEAGE_URL"]] if os.environ.get("OPENLINEAGE_URL") else []
    return [without_userinfo(t) for t in targets]


def provider_backends(connection: str, config_path: str, transport: dict[str, Any]) -> list[str]:
    """Where the Airflow OpenLineage provider's client sends events outside this machine,
    from its ``[openlineage]`` options, resolved in the provider's order: ``config_conn_id``
    (an Airflow connection, read as ``connection:<id>``: undeclared unless a prefix names it),
    ``config_path`` (an ``openlineage.yml``), ``transport`` (JSON); without a transport
    there, openlineage-python's own configuration, as :func:`backends` reads it."""
    if connection:
        return [f"connection:{connection}"]
    if config_path:
        found = _transport_in(Path(config_path))
    else:
        found = transport if transport.get("type") else None
    return backends() if found is None else [without_userinfo(t) for t in _remote(found)]


def without_userinfo(url: str) -> str:
    """``https://user:secret@host/p?key=k`` -> ``https://host/p`` (no credentials, no query)."""
    return _USERINFO.sub(r"\1", url).split("?", 1)[0]


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def event_subjects(event: Any) -> list[str]:
    """The jurisdictions of the subjects an event's datasets derive from (event object or
    its JSON form)."""
    found: set[str] = set()
    for dataset in [*(_get(event, "inputs") or []), *(_get(event, "outputs") or [])]:
        facet = (_get(dataset, "facets") or {}).get(KEY)
        found.update(str(s) for s in (_get(facet, "subjects") or []))
    return sorted(found)


def refusal(settings: Settings, target: str, subjects: list[str]) -> TransferRefused | None:
    """Why events about ``subjects`` may not go to ``target``, or None (no subjects, no
    readable policy, or allowed)."""
    policy = policy_of(settings)
    if not subjects or policy is None:
        return None
    try:
        check_subjects(policy, subjects, target, WHAT)
    except TransferRefused as refused:
        return refused
    return None


def refused(
    settings: Settings, event: Any, targets: list[str] | None = None
) -> TransferRefused | None:
    """Why ``event`` may not go to ``targets`` (default: our client's :func:`backends`), or
    None (in-house or allowed). One refusing backend keeps the event in-house: the client
    sends to all of them."""
    targets = backends() if targets is None else targets
    subjects = event_subjects(event) if targets else []
    return next((r for t in targets if (r := refusal(settings, t, subjects)) is not None), None)


def keep_in_house(settings: Settings, event: Any, why: TransferRefused) -> None:
    """Append ``event`` to the local event log instead and record the refusal."""
    from openlineage.client.serde import Serde

    append_line(client.events_path(settings), Serde.to_json(event))
    record(settings, why)


def record(settings: Settings, why: TransferRefused) -> str | None:
    """A ``refused_transfer`` finding for the pipeline owner, opened once while open."""
    policy = policy_of(settings)
    message = str(why)
    fid = finding_id("refused_transfer", why.target, message)
    if fid in _RECORDED:
        return fid
    _RECORDED.add(fid)
    log.warning("lineage: %s (kept in %s)", message, Path(client.events_path(settings)).name)
    if state_of(settings, fid) in ("open", "acknowledged"):
        return fid
    team = policy.teams.get(policy.pipeline_owner or "") if policy else None
    owner = team.contact if team else ""
    return open_finding(settings, "refused_transfer", why.target, message, owner, actor="lineage")


def reset() -> None:
    """Forget which refusals were recorded (tests start each case afresh)."""
    _RECORDED.clear()
