"""CLI subcommands: ``keys init|rotate|encrypt|rotate-kek|show``, ``reidentify`` and
``audit verify``.

:func:`register` adds them to the main parser's subparsers. Each sets ``func`` (via
``set_defaults``) to a handler ``(args) -> int`` exit code. Handlers run with the settings the
command line resolved (:func:`~pipelines.settings.settings_for`).

Only ``reidentify`` ever prints a clear value (to stdout, after auditing it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipelines.console import safe_error
from pipelines.contracts import ContractError
from pipelines.protection.audit import AuditLog, lineage_anchors
from pipelines.protection.audit_pg import open_audit_log
from pipelines.protection.errors import KeyRingError, ProtectionError
from pipelines.protection.kek import (
    AIRFLOW_VARIABLE,
    KEK_ENV_VAR,
    NEW_KEK_ENV_VAR,
    kek_fingerprint,
    load_kek,
)
from pipelines.protection.keys import (
    KEY_FILE_ENV_VAR,
    KEYS_ENV_VAR,
    FileKeyProvider,
    KeyRing,
    Purpose,
    create_keyring,
    encrypt_at_rest,
    keyring_from_settings,
    rotate,
    rotate_kek,
)
from pipelines.protection.registry import KeyRegistry
from pipelines.protection.reidentify import audit_request, reidentify
from pipelines.settings import Settings, settings_for


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _cmd_keys_init(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    path = Path(args.path) if args.path else settings.key_file or settings.default_key_file
    keyring = create_keyring(path)
    print(f"Created a DEVELOPMENT key ring at {path} (mode 0600).")
    print("It is for local development only; do not use it in production.")
    for purpose in keyring.purposes():
        keyset = keyring.keyset(purpose)
        print(f"  {purpose.value}: {keyset.active_id} (fingerprint {keyset.active.fingerprint()})")
    if settings.key_file is None or Path(settings.key_file) != path:
        print(f"Use it with: export {KEY_FILE_ENV_VAR}={path}")
    return 0


def _key_file(args: argparse.Namespace, settings: Settings) -> Path:
    if args.path:
        return Path(args.path)
    if settings.key_file is not None:
        return settings.key_file
    if settings.keys is not None:
        raise ProtectionError(
            f"the key ring comes from {KEYS_ENV_VAR}; rotate it where that secret is stored "
            "(or pass --path to a key ring file)"
        )
    raise ProtectionError(f"no key ring file: set {KEY_FILE_ENV_VAR} or pass --path")


def _cmd_keys_rotate(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    path = _key_file(args, settings)
    keyring = rotate(path, args.purpose)
    keyset = keyring.keyset(args.purpose)
    print(
        f"Rotated {keyset.purpose.value} key in {path}: active is now {keyset.active_id} "
        f"(fingerprint {keyset.active.fingerprint()}); kept {', '.join(keyset.keys)}."
    )
    if keyset.purpose is Purpose.PSEUDONYMIZATION:
        print(
            "Pseudonymization tokens cannot be re-keyed: re-ingest every table from landing, "
            "or old and new tokens will not join."
        )
    elif keyset.purpose is Purpose.AUDIT:
        print("New audit entries are chained with it; older entries still verify.")
    else:
        print("Existing ciphertexts still decrypt; re-encrypt them to retire the old key.")
    return 0


def _cmd_keys_encrypt(args: argparse.Namespace) -> int:
    path = _key_file(args, settings_for(args))
    kek = load_kek()
    encrypt_at_rest(path, kek)
    print(
        f"Encrypted the key ring {path} at rest under the KEK with fingerprint "
        f"{kek_fingerprint(kek)}; it now loads only with that KEK in {KEK_ENV_VAR} (or the "
        f"Airflow Variable {AIRFLOW_VARIABLE})."
    )
    return 0


def _cmd_keys_rotate_kek(args: argparse.Namespace) -> int:
    path = _key_file(args, settings_for(args))
    old = load_kek()
    new = load_kek(NEW_KEK_ENV_VAR, airflow_variable=None)
    rotate_kek(path, old, new)
    print(
        f"Re-encrypted the key ring {path}: KEK {kek_fingerprint(old)} -> "
        f"{kek_fingerprint(new)}. Its keys did not change. Now store the new KEK as "
        f"{KEK_ENV_VAR} (or the Airflow Variable {AIRFLOW_VARIABLE}) everywhere the pipeline "
        "runs, and retire the old one."
    )
    return 0


def _cmd_keys_show(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    if args.path:
        keyring: KeyRing = FileKeyProvider(Path(args.path)).load()
        source = str(args.path)
    else:
        keyring = keyring_from_settings(settings)
        source = KEYS_ENV_VAR if settings.keys is not None else str(settings.key_file)
    info: dict[str, Any] = {"source": source, **keyring.describe()}
    info["created"], info["note"] = keyring.created, keyring.note
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"key ring: {source}")
    if keyring.note:
        print(f"note: {keyring.note}")
    for purpose in keyring.purposes():
        keyset = keyring.keyset(purpose)
        print(f"{purpose.value}:")
        for key_id, fingerprint in keyset.fingerprints().items():
            marker = "  (active)" if key_id == keyset.active_id else ""
            print(f"  {key_id}  fingerprint {fingerprint}{marker}")
    return 0


def _cmd_reidentify(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    contracts = Path(args.contracts_dir) if args.contracts_dir else settings.contracts_dir
    try:
        keyring = keyring_from_settings(settings)
    except KeyRingError as exc:  # refused for want of keys: logged, without a MAC
        audit_request(
            open_audit_log(settings), actor=args.actor, reason=args.reason, token=args.token,
            details={"table": args.table, "column": args.column, "key_id": None},
            outcome="refused", error=exc, unauthenticated=True,
        )  # fmt: skip
        raise
    log = open_audit_log(settings, keyring)
    value = reidentify(
        keyring,
        log,
        table=args.table,
        column=args.column,
        token=args.token,
        actor=args.actor,
        reason=args.reason,
        contracts=contracts,
        registry=_registry(settings),
    )
    seq, _ = log.head()
    print(f"(audited as entry {seq} in {log.where})", file=sys.stderr)
    print(value)
    return 0


def _registry(settings: Settings) -> KeyRegistry:
    """The lake's key registry (local, or on the lake's object store)."""
    from pipelines.lake.state import key_registry

    return key_registry(settings)


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    from pipelines.reporting.store import event_source, event_texts

    settings = settings_for(args)
    log = AuditLog(Path(args.path)) if args.path else open_audit_log(settings)
    if not log.exists():
        print(f"no audit log at {log.where} (nothing audited yet)")
        return 0
    log = log.with_keyring(keyring_from_settings(settings))
    events = event_source(settings, Path(args.lineage) if args.lineage else None)
    anchors = lineage_anchors(event_texts(events))
    report = log.verify(anchors)
    seq, head = log.head()
    unauthenticated = (
        f" ({report.unauthenticated} unauthenticated: refusals logged without a key ring)"
        if report.unauthenticated
        else ""
    )
    print(
        f"audit log {log.where}: OK, {report.entries} entries{unauthenticated}, head seq {seq} "
        f"mac {head[:16]}...; {log.head_where} agrees; {report.anchors} head(s) "
        f"recorded in lineage ({events}) agree"
    )
    return 0


def _cmd_audit_report(args: argparse.Namespace) -> int:
    """Write the audit report for ``--from``..``--to`` as HTML or PDF."""
    from datetime import date
    from pathlib import Path

    from pipelines.portal.audit_report import render, write_pdf

    try:
        start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    except ValueError:
        return _fail(f"--from and --to must be dates YYYY-MM-DD, got {args.start!r}, {args.end!r}")
    settings = settings_for(args)
    out = Path(args.out or settings.data_dir / "reports" / f"audit-{start}-{end}.{args.format}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "pdf":
        write_pdf(render(settings, start, end), out)
    else:
        out.write_text(render(settings, start, end), encoding="utf-8")
    print(f"audit report {start} to {end}: {out}")
    return 0


def _guarded(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except (ProtectionError, ContractError, OSError) as exc:
            return _fail(safe_error(exc))

    run.__doc__ = handler.__doc__
    return run


def register(subparsers: Any) -> None:
    """Add ``keys``, ``reidentify`` and ``audit`` to the main parser's subparsers."""
    _add_keys(subparsers)
    _add_reidentify(subparsers)
    _add_audit(subparsers)


def _add_keys(subparsers: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    keys = subparsers.add_parser(
        "keys",
        help="manage the key ring (pseudonymization and encryption keys)",
        description="Create, rotate and inspect the key ring. Key bytes are never printed.",
    )
    keys_sub = keys.add_subparsers(
        dest="keys_command", metavar="{init,rotate,encrypt,rotate-kek,show}"
    )
    keys_sub.required = True

    init = keys_sub.add_parser(
        "init",
        help="create a local development key ring",
        formatter_class=fmt,
        description=(
            "Create a new random key ring file (mode 0600) for local development.\n"
            "Default location: $PIPELINES_KEY_FILE if set, else the user's config dir:\n"
            "$XDG_CONFIG_HOME/commerce-pipelines/dev-keyring.json (~/.config/... without it),\n"
            "never the data directory.\n"
            "Never overwrites an existing file. Not for production: use a secret store and\n"
            "PIPELINES_KEYS or PIPELINES_KEY_FILE there."
        ),
    )
    init.add_argument("--path", help="where to create the key ring file")
    init.set_defaults(func=_guarded(_cmd_keys_init))

    rot = keys_sub.add_parser(
        "rotate",
        help="add a new active key version, keeping old versions",
        formatter_class=fmt,
        description=(
            "Add a new key version for one purpose and make it active; old versions stay so\n"
            "existing ciphertexts still decrypt.\n\n"
            "encryption: safe at any time; old values can be re-encrypted later.\n"
            "pseudonymization: tokens cannot be re-keyed without the clear values, so every\n"
            "table must be re-ingested from landing afterwards (tokens carry the key id).\n"
            "audit: the audit log's HMAC key; adds one to a ring written without it."
        ),
    )
    rot.add_argument(
        "--purpose", required=True, choices=[p.value for p in Purpose], help="which key to rotate"
    )
    rot.add_argument("--path", help="key ring file (default: $PIPELINES_KEY_FILE)")
    rot.set_defaults(func=_guarded(_cmd_keys_rotate))

    enc = keys_sub.add_parser(
        "encrypt",
        help="encrypt the key ring file at rest under a key-encryption key (KEK)",
        formatter_class=fmt,
        description=(
            "Replace a plain key ring file by its AES-256-GCM envelope under the KEK in\n"
            f"${KEK_ENV_VAR} (or the Airflow Variable {AIRFLOW_VARIABLE}): base64 of 32 random\n"
            "bytes, kept in a secret store, never next to the ring. Every command and task\n"
            "then needs the KEK to load the ring."
        ),
    )
    enc.add_argument("--path", help="key ring file (default: $PIPELINES_KEY_FILE)")
    enc.set_defaults(func=_guarded(_cmd_keys_encrypt))

    rkek = keys_sub.add_parser(
        "rotate-kek",
        help="re-encrypt the key ring under a new KEK",
        formatter_class=fmt,
        description=(
            f"Decrypt the key ring with the current KEK (${KEK_ENV_VAR}, or the Airflow\n"
            f"Variable {AIRFLOW_VARIABLE}) and encrypt it under the new one in\n"
            f"${NEW_KEK_ENV_VAR}. The ring's keys do not change. Afterwards set {KEK_ENV_VAR}\n"
            "to the new KEK wherever the pipeline runs."
        ),
    )
    rkek.add_argument("--path", help="key ring file (default: $PIPELINES_KEY_FILE)")
    rkek.set_defaults(func=_guarded(_cmd_keys_rotate_kek))

    show = keys_sub.add_parser(
        "show",
        help="show key ids, active ids and fingerprints (never key bytes)",
        description="Show the configured key ring's key ids, active ids and fingerprints.",
    )
    show.add_argument("--path", help="key ring file (default: from settings)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=_guarded(_cmd_keys_show))


def _add_reidentify(subparsers: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    reid = subparsers.add_parser(
        "reidentify",
        help="decrypt one encrypted value, with an audit entry",
        formatter_class=fmt,
        description=(
            "Decrypt one value of an encrypted column (contract protection 'encrypt') and\n"
            "print it. The request (actor, reason, table, column, a hash of the token and the\n"
            "outcome) is written to the audit log before the value is shown. Pseudonymized\n"
            "columns cannot be re-identified: their tokens are one-way."
        ),
        epilog=(
            "example:\n  pipelines reidentify --table customer_profiles --column email \\\n"
            '      --token e1:... --actor alice --reason "customer service ticket 123"'
        ),
    )
    reid.add_argument("--table", required=True, help="source table, e.g. customer_profiles")
    reid.add_argument("--column", required=True, help="source column, e.g. email")
    reid.add_argument("--token", required=True, help="the encrypted value as stored (e1:...)")
    reid.add_argument("--actor", required=True, help="who is asking (recorded in the audit log)")
    reid.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    reid.add_argument("--contracts-dir", help="contracts directory (default: from settings)")
    reid.set_defaults(func=_guarded(_cmd_reidentify))


def _add_audit(subparsers: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    audit = subparsers.add_parser(
        "audit",
        help="inspect the audit log",
        description="Work with the append-only, MAC-chained audit log.",
    )
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="{verify,report}")
    audit_sub.required = True
    verify = audit_sub.add_parser(
        "verify",
        help="check the audit log's MAC chain, its head file and the heads lineage recorded",
        formatter_class=fmt,
        description=(
            "Check every entry's MAC (the key ring's audit key) and link, that the head file\n"
            "(<log>.head) vouches for the last entry, and that every audit head an ingestion\n"
            "run recorded in its lineage is still in the log. On failure name the first bad\n"
            "entry (seq) and exit 1."
        ),
    )
    verify.add_argument(
        "--path", help="audit log file (default: from settings: audit_url, else audit_log)"
    )
    verify.add_argument(
        "--lineage",
        help="OpenLineage event log (default: the lineage_url table, else "
        "<data_dir>/lineage/events.jsonl)",
    )
    verify.set_defaults(func=_guarded(_cmd_audit_verify))
    report = audit_sub.add_parser(
        "report",
        help="an HTML report for auditors: runs, gates, findings, re-identifications, refusals",
        formatter_class=fmt,
        description=(
            "Summarise a time window for auditors: gate decisions, findings with their owners\n"
            "and time to resolution, re-identifications and erasures, refused uses and\n"
            "transfers (docs/policy.md). No data values or subject tokens are written.\n"
            "A PDF is printed by headless Chromium (make browser installs it).\n\n"
            "examples:\n  pipelines audit report --from 2018-01-01 --to 2018-01-31 "
            "--out audit.html\n  pipelines audit report --from 2018-01-01 --to 2018-01-31 "
            "--format pdf"
        ),
    )
    report.add_argument("--from", dest="start", required=True, help="first day (YYYY-MM-DD)")
    report.add_argument("--to", dest="end", required=True, help="last day (YYYY-MM-DD)")
    report.add_argument(
        "--format", choices=["html", "pdf"], default="html", help="html (default) or pdf"
    )
    report.add_argument(
        "--out", help="file to write (default: <data_dir>/reports/audit-<from>-<to>.<format>)"
    )
    report.set_defaults(func=_guarded(_cmd_audit_report))
