"""What a quarantine record may hold: no clear value of any column, whatever its class.

A quarantined record is kept so an operator can see what was wrong with it, but the reason a
record fails is often that a value is not what its column should hold: an e-mail address
typed into ``orders.order_status``, a phone number in ``order_reviews.review_score``. So the
quarantine's ``record`` holds

* protected PII columns in their lake form (tokens, ciphertexts, generalized or scrubbed
  values), as ingestion computed them;
* every column the lake holds in clear, **encrypted** (AES-SIV, the active encryption key)
  under its own context, ``<table>._quarantine.<column>``: non-PII columns and PII columns kept
  as they are (a quasi-identifier such as ``customer_state``: a value that fails its check is
  not what the column should hold, and may be anything, an e-mail address included)
  (:func:`pipelines.protection.encrypt.quarantine_context`): a ciphertext of the
  quarantine cannot be passed off as a lake value, nor the other way round;

and ``reason``/``reasons`` name the check and the column, never a value (see
:func:`pipelines.ingest.transform.row_checks`). A malformed record's text is one ciphertext
(``encrypted_record``, context ``<table>._malformed_record``).

Reading them back is re-identification, audited like any other:
``pipelines reidentify --table orders --column _quarantine.order_status --token e1:...``
(see :mod:`pipelines.protection.reidentify`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipelines.contracts import Column, Contract
from pipelines.protection.encrypt import Encryptor, quarantine_context
from pipelines.protection.keys import KeyRing
from pipelines.protection_types import protection_type
from pipelines.sql import json_path, sql_str


def held_clear(col: Column) -> bool:
    """Whether the lake holds ``col``'s value in clear (its quarantine value is encrypted)."""
    return not protection_type(col.protection).masking


def record_from(contract: Contract, value_of: Callable[[str], str], encrypt_udf: str | None) -> str:
    """SQL for a quarantine record from ``value_of(lake column name)`` (each value's SQL,
    protected columns as the lake holds them): every value the lake holds in clear encrypted
    under its quarantine context with ``encrypt_udf``, or left out when it is None."""
    fields = []
    for col in contract.written_columns:
        value = value_of(col.lake_name)
        if held_clear(col):
            if encrypt_udf is None:
                continue
            context = quarantine_context(contract.table, col.name)
            value = f"{encrypt_udf}({value}, {sql_str(context)})"
        fields.append(f"{sql_str(col.lake_name)}: {value}")
    return f"to_json({{{', '.join(fields)}}})" if fields else "to_json(MAP {})"


def record_sql(contract: Contract, record_json: str, encrypt_udf: str) -> str:
    """SQL turning ``record_json`` (the JSON image of a failed record: protected columns as
    the lake holds them, the others in clear) into the quarantine's record: the others
    encrypted."""
    return record_from(
        contract, lambda name: f"json_extract_string({record_json}, {json_path(name)})", encrypt_udf
    )


DECRYPT_UDF = "pipelines_quarantine_decrypt"


def register_decrypt_udf(con: Any, keyring: KeyRing, name: str = DECRYPT_UDF) -> str:
    """Register ``<name>(token VARCHAR, context VARCHAR) -> VARCHAR`` on ``con``: the clear
    value of a quarantine ciphertext (NULL stays NULL). For putting quarantined rows back in
    the lake, where their non-PII values are kept in clear; a person reading one uses
    ``pipelines reidentify``, which audits."""
    encryptor = Encryptor(keyring)

    def decrypt(token: str | None, context: str) -> str | None:
        return None if token is None else encryptor.decrypt(token, context)

    from duckdb.func import FunctionNullHandling

    con.create_function(
        name,
        decrypt,
        ["VARCHAR", "VARCHAR"],
        "VARCHAR",
        null_handling=FunctionNullHandling.SPECIAL,
    )
    return name


def lake_values_sql(contract: Contract, record_json: str, decrypt_udf: str) -> dict[str, str]:
    """Per lake column, SQL giving its lake value (as VARCHAR) back from a quarantine record
    made by :func:`record_sql`: protected columns as stored, the others decrypted."""
    values = {}
    for col in contract.written_columns:
        value = f"json_extract_string({record_json}, {json_path(col.lake_name)})"
        if held_clear(col):
            context = quarantine_context(contract.table, col.name)
            value = f"{decrypt_udf}({value}, {sql_str(context)})"
        values[col.lake_name] = value
    return values
