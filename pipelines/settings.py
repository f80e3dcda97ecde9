"""One typed settings object for the whole framework.

Where a value comes from, highest priority first:

1. arguments passed in code or on the command line (``Settings(data_dir=...)``, ``--data-dir``);
2. a TOML settings file: ``settings_file=`` argument, else ``$PIPELINES_SETTINGS_FILE``,
   else ``pipelines.toml`` in the current directory if it exists;
3. ``PIPELINES_*`` environment variables (``PIPELINES_DATA_DIR``, ``PIPELINES_KEY_FILE``, ...);
4. the defaults below, which put everything under ``<project>/.data``.

Secrets (the key ring) are :class:`pydantic.SecretStr`: their ``repr`` and ``str`` are masked,
so a settings object can be logged without leaking them.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from pipelines.pgstate import check_url

PROJECT_DIR = Path(__file__).resolve().parents[1]
"""The repository root (where ``contracts/``, ``dags/`` and ``dbt_project/`` live)."""

ENV_PREFIX = "PIPELINES_"
CONFIG_DIR_NAME = "commerce-pipelines"


def user_config_dir() -> Path:
    """``$XDG_CONFIG_HOME/commerce-pipelines`` (absolute values only, as the XDG spec says),
    else ``~/.config/commerce-pipelines``."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / CONFIG_DIR_NAME


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the optional TOML settings file (top-level keys are field names)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None):
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        if not self.path.is_file():
            raise FileNotFoundError(f"settings file not found: {self.path}")
        with self.path.open("rb") as fh:
            data = tomllib.load(fh)
        section = data.get("pipelines", data)
        unknown = sorted(set(section) - set(self.settings_cls.model_fields))
        if unknown:
            raise ValueError(f"{self.path}: unknown setting(s): {', '.join(unknown)}")
        return section


def _settings_file(init_kwargs: dict[str, Any]) -> Path | None:
    explicit = init_kwargs.get("settings_file") or os.environ.get(f"{ENV_PREFIX}SETTINGS_FILE")
    if explicit:
        return Path(explicit)
    local = Path.cwd() / "pipelines.toml"
    return local if local.is_file() else None


class Settings(BaseSettings):
    """Where data lives, where keys come from and how hard DuckDB may work."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    settings_file: Path | None = Field(default=None, description="TOML file with settings.")
    data_dir: Path = Field(
        default=PROJECT_DIR / ".data", description="Root of everything the pipeline writes."
    )
    landing_dir: Path | None = Field(
        default=None,
        description="Where source files arrive, as <date>/<file>; default <data_dir>/landing.",
    )
    landing_url: str | None = Field(
        default=None,
        description="Landing files on an S3-compatible store, s3://bucket/prefix, as "
        "<prefix>/<date>/<file> (credentials as for lake_url); unset: the local landing_dir.",
    )
    lake_dir: Path | None = Field(
        default=None, description="Protected, partitioned Parquet lake; default <data_dir>/lake."
    )
    lake_url: str | None = Field(
        default=None,
        description="The lake's partitions on an S3-compatible store, s3://bucket/prefix "
        "(credentials from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
        "PIPELINES_S3_ENDPOINT); unset: the local lake_dir.",
    )
    warehouse_path: Path | None = Field(
        default=None, description="DuckDB warehouse file; default <data_dir>/warehouse.duckdb."
    )
    audit_log: Path | None = Field(
        default=None, description="Append-only audit log (JSON lines); default <data_dir>/audit."
    )
    audit_url: SecretStr | None = Field(
        default=None,
        description="postgresql:// URL: the audit log in PostgreSQL instead of `audit_log`.",
    )
    lineage_url: SecretStr | None = Field(
        default=None,
        description="postgresql:// URL: lineage events in PostgreSQL instead of a local file.",
    )
    lock_url: SecretStr | None = Field(
        default=None,
        description="postgresql:// URL: partition locks as advisory locks, not local files.",
    )
    lake_catalog_url: SecretStr | None = Field(
        default=None,
        description="The lake's DuckLake catalog (with lake_url only): a postgresql:// URL, "
        "or a local path to a .ducklake file (one machine); unset: manifest.json objects.",
    )
    contracts_dir: Path = Field(
        default=PROJECT_DIR / "contracts", description="Source contracts (*.yml)."
    )
    expectations_dir: Path = Field(
        default=PROJECT_DIR / "expectations",
        description="Quality suites (<table>.yml), reference/ populations, features/ suites.",
    )
    dbt_models_dir: Path | None = Field(
        default=None,
        description="Your own dbt models (features/*.sql + *.yml), added to the dbt project.",
    )
    policy_file: Path = Field(
        default=PROJECT_DIR / "policy.yml",
        description="Governance policy: owners, purposes, jurisdictions (docs/policy.md).",
    )
    smtp_host: str = Field(default="localhost", description="SMTP server for owner e-mails.")
    smtp_port: int = Field(default=25, description="SMTP port for owner e-mails.")
    smtp_from: str = Field(
        default="pipelines@localhost", description="Sender of the owners' notifications."
    )
    portal_url: str = Field(
        default="http://127.0.0.1:8765",
        description="Base URL of the governance portal (links in notifications).",
    )
    key_file: Path | None = Field(
        default=None, description="Key ring file (JSON). Used when `keys` is not set."
    )
    keys: SecretStr | None = Field(
        default=None, description="Key ring as JSON text (for secret stores / containers)."
    )
    duckdb_memory_limit: str = Field(default="3GB", description="DuckDB memory_limit.")
    duckdb_threads: int | None = Field(default=None, description="DuckDB threads (None: cores).")
    dag_start_date: date = Field(
        default=date(2016, 9, 1),
        description="First day of commerce_daily's data intervals; an earlier interval fails.",
    )
    dag_schedule: str = Field(
        default="0 0 * * *", description="commerce_daily's cron schedule (UTC data intervals)."
    )
    dag_catchup: bool = Field(
        default=False, description="Whether the scheduler runs missed intervals since the start."
    )
    dag_retries: int = Field(
        default=2,
        ge=0,
        description="Retries of a failed commerce_daily task (a lost worker costs every task "
        "it ran one try).",
    )

    @field_validator(
        "settings_file",
        "landing_dir",
        "landing_url",
        "lake_dir",
        "lake_url",
        "warehouse_path",
        "audit_log",
        "key_file",
        "keys",
        "dbt_models_dir",
        "audit_url",
        "lineage_url",
        "lock_url",
        "lake_catalog_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """``PIPELINES_KEY_FILE=`` (empty) means "not set", not the current directory."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("audit_url", "lineage_url", "lock_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None:
            check_url(value.get_secret_value(), str(info.field_name))
        return value

    @field_validator("lake_catalog_url")
    @classmethod
    def _catalog_url(cls, value: SecretStr | None) -> SecretStr | None:
        text = value.get_secret_value() if value is not None else ""
        if value is not None and "://" in text:
            check_url(text, "lake_catalog_url")
        elif value is not None and not text.endswith(".ducklake"):
            raise ValueError(
                "lake_catalog_url must be a postgresql:// URL or a path to a .ducklake file"
            )
        return value

    @field_validator("landing_url")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("s3://") and value[5:].strip("/")):
            raise ValueError(
                f"landing_url must be s3://bucket[/prefix], got {value!r}; for a local "
                "folder set landing_dir instead"
            )
        return value

    @field_validator("duckdb_threads")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("duckdb_threads must be at least 1")
        return value

    def __init__(self, **values: Any):
        self.__class__._pending_file = _settings_file(values)
        super().__init__(**values)

    _pending_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _TomlFileSource(settings_cls, cls._pending_file), env_settings)

    # Derived locations -------------------------------------------------------------------

    @property
    def landing(self) -> Path:
        return self.landing_dir or self.data_dir / "landing"

    @property
    def lake(self) -> Path:
        return self.lake_dir or self.data_dir / "lake"

    @property
    def warehouse(self) -> Path:
        return self.warehouse_path or self.data_dir / "warehouse.duckdb"

    @property
    def audit(self) -> Path:
        return self.audit_log or self.data_dir / "audit" / "audit.jsonl"

    @property
    def policy(self) -> Path:
        return self.policy_file

    @property
    def default_key_file(self) -> Path:
        """Where ``make demo`` and ``pipelines keys init`` create a local development key ring:
        the user's config dir, never next to the data (see :func:`user_config_dir`)."""
        return user_config_dir() / "dev-keyring.json"

    def describe(self) -> dict[str, str]:
        """Human-readable view of the effective settings (secrets masked)."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            out[name] = "**********" if isinstance(value, SecretStr) else str(value)
        out["landing (effective)"] = self.landing_url or str(self.landing)
        out["lake (effective)"] = str(self.lake)
        out["warehouse (effective)"] = str(self.warehouse)
        return out


def settings_for(args: Any) -> Settings:
    """The settings a command runs with: resolved once, at the command line.

    The main CLI puts its :class:`Settings` on ``args.settings``; a sub-CLI run on its own
    (``python -m pipelines.quality --settings FILE``) has a path there, or ``settings_file``,
    and maybe ``data_dir``. Library code never builds settings itself: it is passed these.
    """
    settings = getattr(args, "settings", None)
    if isinstance(settings, Settings):
        return settings
    overrides: dict[str, Any] = {}
    settings_file = getattr(args, "settings_file", None) or settings
    if settings_file:
        overrides["settings_file"] = settings_file
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return Settings(**overrides)
