"""PII protection for ingestion, bound to one key ring.

Implements the keyed building blocks of :mod:`pipelines.protection.types` (which holds every
type's SQL and Arrow form): pseudonymization as pure SQL (key-derived pads passed as prepared
parameters, never in the SQL text), encryption as a vectorised DuckDB UDF; it registers the
encryption and scrubbing UDFs. Ingestion itself computes tokens, ciphertexts and scrubbed
texts on Arrow batches (:meth:`KeyedProtection.arrow_function`,
:mod:`pipelines.ingest.stream`); the encryption UDF still protects the text of malformed
records.
"""

from __future__ import annotations

import duckdb

from pipelines.contracts import Column, Contract
from pipelines.protection import KeyRing
from pipelines.protection.encrypt import ENCRYPT_UDF, Encryptor
from pipelines.protection.encrypt import register_duckdb_udf as register_encrypt_udf
from pipelines.protection.pseudonymize import PSEUDONYMIZE_UDF, TOKEN_SCHEME, Pseudonymizer
from pipelines.protection.scrub import register_duckdb_udf as register_scrub_udf
from pipelines.protection.types import ArrowFunction, Target, arrow_form
from pipelines.sql import sql_str


class UdfProtection:
    """:class:`~pipelines.ingest.transform.ProtectionSql` with the keyed protections written as
    their DuckDB UDFs (``pipelines_pseudonymize(col)``, ``pipelines_encrypt(col, context)``).

    It needs no key: the ingestion lineage's ``sql`` facet is ingestion's SELECT built with it
    (no key-derived parameter in it). :class:`KeyedProtection` differs only in the token SQL.
    """

    def token(self, column_sql: str, param_prefix: str) -> tuple[str, dict[str, bytes]]:
        return f"{PSEUDONYMIZE_UDF}({column_sql})", {}

    def encrypt(self, column_sql: str, context: str) -> str:
        return f"{ENCRYPT_UDF}({column_sql}, {sql_str(context)})"


class KeyedProtection(UdfProtection):
    def __init__(self, keyring: KeyRing):
        self.keyring = keyring
        self.pseudonymizer = Pseudonymizer(keyring)
        self.encryptor = Encryptor(keyring)

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        register_encrypt_udf(con, self.encryptor, ENCRYPT_UDF)
        register_scrub_udf(con)

    def token(self, column_sql: str, param_prefix: str) -> tuple[str, dict[str, bytes]]:
        return self.pseudonymizer.sql_token(column_sql, param_prefix)

    def arrow_function(self, contract: Contract, col: Column) -> ArrowFunction:
        """Protects a whole Arrow array of ``col``'s clear values, as :meth:`token`,
        :meth:`encrypt` or :meth:`scrub` would value by value."""
        return arrow_form(Target(contract, col), self)

    def key_versions(self) -> dict[str, str]:
        """Active key ids, and how tokens are derived from the pseudonymization key."""
        return {
            "pseudonymization": self.keyring.pseudonymization.active_id,
            "pseudonymization_scheme": TOKEN_SCHEME,
            "encryption": self.keyring.encryption.active_id,
        }

    def key_fingerprints(self) -> dict[str, str]:
        return {
            "pseudonymization": self.keyring.pseudonymization.active.fingerprint(),
            "encryption": self.keyring.encryption.active.fingerprint(),
        }
