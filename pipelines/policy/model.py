"""The policy file (``policy.yml``, see docs/policy.md), validated with pydantic.

Who owns what: a *source*'s owner is its contract's ``owner`` (the contract wins; the policy
derives the team as the one whose ``contact`` is that address); a *feature table*'s owner is
the team the policy names (feature tables have no contract). Purposes are approved per feature
table; ``purpose_restrictions`` refuse a purpose for any table carrying a sensitive attribute
(``gender: [credit_scoring]``). Each source's subjects live in a jurisdiction; data derived
from them may go only to the destinations that jurisdiction allows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DOCS = "docs/policy.md"


class PolicyError(ValueError):
    """The policy file is missing, malformed or inconsistent (the message names the file,
    the field and what to write)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Member(_Strict):
    name: str = Field(description="A handle, not a personal name.", examples=["ana"])
    email: str = Field(description="Where notifications go.", examples=["ana@example.com"])
    role: str = Field(
        description="owner, steward, approver or analyst.",
        examples=["steward"],
        pattern="^(owner|steward|approver|analyst)$",
    )


class Team(_Strict):
    contact: str = Field(
        description="The team's address; a contract's owner names it.",
        examples=["commerce-data@example.com"],
    )
    members: list[Member] = Field(default_factory=list)

    def approvers(self) -> list[str]:
        """Who may approve a new use: the team's owners and approvers (else its contact)."""
        found = [m.email for m in self.members if m.role in ("owner", "approver")]
        return found or [self.contact]


class SourcePolicy(_Strict):
    jurisdiction: str = Field(
        description="Where the source's data subjects live (ISO code or region).",
        examples=["BR"],
    )


class FeaturePolicy(_Strict):
    owner: str = Field(description="The owning team's name.", examples=["ml-platform"])
    purposes: list[str] = Field(
        default_factory=list,
        description="Purposes the table is approved for.",
        examples=[["recommendation", "churn"]],
    )
    sensitive: list[str] = Field(
        default_factory=list,
        description="Sensitive attributes the table carries or derives from (gender, age...).",
        examples=[["age"]],
    )
    sources: list[str] = Field(
        default_factory=list,
        description="Source tables it is derived from (their jurisdictions apply to it).",
        examples=[["customers", "orders"]],
    )


class Jurisdiction(_Strict):
    allowed_destinations: list[str] = Field(
        description="Jurisdictions data derived from these subjects may go to.",
        examples=[["BR", "EU"]],
    )


class Destination(_Strict):
    name: str = Field(examples=["analytics-eu"])
    prefix: str = Field(
        description="Path, bucket or URL prefix of the destination.",
        examples=["s3://analytics-eu/"],
    )
    jurisdiction: str = Field(examples=["EU"])


class Policy(_Strict):
    version: int = Field(examples=[1])
    teams: dict[str, Team]
    sources: dict[str, SourcePolicy] = Field(default_factory=dict)
    features: dict[str, FeaturePolicy] = Field(default_factory=dict)
    jurisdictions: dict[str, Jurisdiction] = Field(default_factory=dict)
    destinations: list[Destination] = Field(default_factory=list)
    pipeline_owner: str | None = Field(
        default=None,
        description="Team told of failures that concern no single table (a team name).",
        examples=["commerce-data"],
    )
    purpose_restrictions: dict[str, list[str]] = Field(
        default_factory=lambda: {"gender": ["credit_scoring"]},
        description="Sensitive attribute -> purposes refused for any table carrying it.",
        examples=[{"gender": ["credit_scoring"]}],
    )
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        for table, feature in self.features.items():
            if feature.owner not in self.teams:
                raise ValueError(
                    f"features.{table}.owner: unknown team {feature.owner!r}; write one of "
                    f"{', '.join(sorted(self.teams))}"
                )
            for attribute in feature.sensitive:
                refused = set(self.purpose_restrictions.get(attribute, ())) & set(feature.purposes)
                if refused:
                    raise ValueError(
                        f"features.{table}.purposes: {', '.join(sorted(refused))} is not "
                        f"allowed for a table carrying {attribute}; remove it from purposes"
                    )
            for source in feature.sources:
                if source not in self.sources:
                    raise ValueError(
                        f"features.{table}.sources: {source!r} has no entry under sources; "
                        f"add sources.{source}.jurisdiction"
                    )
        if self.pipeline_owner is not None and self.pipeline_owner not in self.teams:
            raise ValueError(
                f"pipeline_owner: unknown team {self.pipeline_owner!r}; write one of "
                f"{', '.join(sorted(self.teams))}"
            )
        for name, entry in self.sources.items():
            if entry.jurisdiction not in self.jurisdictions:
                raise ValueError(
                    f"sources.{name}.jurisdiction: {entry.jurisdiction!r} has no entry under "
                    f"jurisdictions; add jurisdictions.{entry.jurisdiction}.allowed_destinations"
                )
        return self

    # Who owns what ------------------------------------------------------------------------

    def team_of_contact(self, contact: str) -> str | None:
        for name, team in self.teams.items():
            if team.contact == contact:
                return name
        return None

    def feature_owner(self, table: str) -> Team:
        feature = self.features.get(table)
        if feature is None:
            raise PolicyError(
                f"{self.path}: features.{table}: the policy names no owner for feature table "
                f"{table}; add features.{table}.owner (see {DOCS})"
            )
        return self.teams[feature.owner]

    def owner_contact(self, dataset: str, contract_owner: str | None = None) -> str:
        """The address that answers for ``dataset`` (a feature table, or a source whose
        contract owner is given)."""
        if dataset in self.features:
            return self.feature_owner(dataset).contact
        if contract_owner:
            return contract_owner
        raise PolicyError(f"{self.path}: no owner known for {dataset!r} (see {DOCS})")

    def destination_for(self, target: str) -> Destination | None:
        """The longest declared destination prefix ``target`` starts with."""
        matches = [d for d in self.destinations if str(target).startswith(d.prefix)]
        return max(matches, key=lambda d: len(d.prefix)) if matches else None

    def jurisdictions_of(self, table: str) -> list[str]:
        """Jurisdictions of the subjects ``table`` (a source or a feature table) derives from."""
        if table in self.sources:
            return [self.sources[table].jurisdiction]
        feature = self.features.get(table)
        sources = feature.sources if feature else []
        return sorted({self.sources[s].jurisdiction for s in sources})


def _problem(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown field; see the fields in " + DOCS
    elif err["type"] == "missing":
        message = "required field is missing"
    return f"{where + ': ' if where else ''}{message} (see {DOCS})"


def parse_policy(raw: Any, path: Path) -> Policy:
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: expected a mapping at the top level (see {DOCS})")
    try:
        return Policy.model_validate({**raw, "path": path})
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise PolicyError(f"{path}: {problems}") from None


def load_policy(path: Path) -> Policy:
    """Read and validate the policy file at ``path``."""
    if not path.is_file():
        raise PolicyError(
            f"{path}: policy file not found; set policy_file (PIPELINES_POLICY_FILE) or write "
            f"one (see {DOCS})"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from None
    return parse_policy(raw, path)
