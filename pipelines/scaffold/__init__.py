"""``pipelines contracts init --from FILE --table NAME``: a contract and a starter suite from a
sample file (CSV, CSV.gz, JSON lines, Parquet).

What it proposes, per column: the contract name (snake case of the header, the header kept
as ``source_name`` when they differ), the type DuckDB reads, ``required`` when the sample has
no missing value, and a PII class and protection found by the detectors ingestion uses for
free text (:mod:`pipelines.protection.detect`) on the sampled values, plus hints from the
column's name (``Customer ID`` -> indirect identifier, pseudonymize). Key candidates are the
columns (or pairs) whose values are unique in the sample, with their measured uniqueness; a
table without one gets a surrogate row key. Nothing printed or written holds a sample value
of any column (only counts, shares, types and names), and the numeric ranges proposed in the
suite come from columns without personal data only.

With an existing contract for the table, nothing is written: the difference between the
file and the contract is printed instead (schema drift).
"""

from pipelines.scaffold.drift import differences
from pipelines.scaffold.profile import Profile, ScaffoldError, profile

__all__ = ["Profile", "ScaffoldError", "differences", "profile"]
