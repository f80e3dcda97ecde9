"""PII protection primitives: keys, pseudonymization, encryption, generalisation, scrubbing,
the audit log and audited re-identification.

Nothing in this package logs, prints, raises or reprs a clear-text value or key material
(the one exception: ``pipelines reidentify`` prints the value it was asked for, after
auditing the request).
"""

from pipelines.protection.audit import AuditLog, entry_mac, subject_digest
from pipelines.protection.detect import Entity, Finding, redact_text
from pipelines.protection.encrypt import Encryptor, encryption_context
from pipelines.protection.encrypt import register_duckdb_udf as register_encrypt_udf
from pipelines.protection.errors import (
    AuditLogError,
    AuditLogTampered,
    DecryptionError,
    KeyFileExistsError,
    KeyFileNotFoundError,
    KeyFilePermissionError,
    KeyLengthError,
    KeyMismatchError,
    KeyRingError,
    KeyRingFormatError,
    MissingKeyError,
    NotReversibleError,
    ProtectionError,
    ReidentificationRefused,
    UnknownKeyIdError,
)
from pipelines.protection.generalize import age_band, generalize, sql_generalize, zip_prefix_3
from pipelines.protection.keys import (
    EnvKeyProvider,
    FileKeyProvider,
    KeyMaterial,
    KeyProvider,
    KeyRing,
    KeySet,
    Purpose,
    StaticKeyProvider,
    create_keyring,
    keyring_from_settings,
    rotate,
)
from pipelines.protection.pseudonymize import Pseudonymizer, key_id_of
from pipelines.protection.pseudonymize import register_duckdb_udf as register_pseudonymize_udf
from pipelines.protection.reidentify import reidentify
from pipelines.protection.scrub import scrub_text, sql_scrub

__all__ = [
    "AuditLog",
    "AuditLogError",
    "AuditLogTampered",
    "DecryptionError",
    "Encryptor",
    "Entity",
    "EnvKeyProvider",
    "FileKeyProvider",
    "Finding",
    "KeyFileExistsError",
    "KeyFileNotFoundError",
    "KeyFilePermissionError",
    "KeyLengthError",
    "KeyMaterial",
    "KeyMismatchError",
    "KeyProvider",
    "KeyRing",
    "KeyRingError",
    "KeyRingFormatError",
    "KeySet",
    "MissingKeyError",
    "NotReversibleError",
    "ProtectionError",
    "Pseudonymizer",
    "Purpose",
    "ReidentificationRefused",
    "StaticKeyProvider",
    "UnknownKeyIdError",
    "age_band",
    "create_keyring",
    "encryption_context",
    "entry_mac",
    "generalize",
    "key_id_of",
    "keyring_from_settings",
    "redact_text",
    "register_encrypt_udf",
    "register_pseudonymize_udf",
    "reidentify",
    "rotate",
    "scrub_text",
    "sql_generalize",
    "sql_scrub",
    "subject_digest",
    "zip_prefix_3",
]
