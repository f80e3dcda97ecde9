"""Reading YAML: the project's one safe loader, libyaml's when PyYAML has it.

PyYAML's pure-Python ``SafeLoader`` parses the contracts, the dbt models' YAML and the suites
about eight times slower than libyaml's ``CSafeLoader`` (0.18 against 0.02 CPU s for the
repository's 48 files), and a daily DAG run loads them dozens of times (every task loads the
contracts; every feature check reads the declared feature tables): about a tenth of a demo
day's CPU in the Airflow process was ``yaml.safe_load``. Both loaders build the same values
(the same safe tags) and raise ``yaml.YAMLError`` on invalid YAML; a PyYAML without libyaml
falls back to ``SafeLoader``.
"""

from __future__ import annotations

from typing import Any

import yaml

LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load(text)``, with libyaml's loader when available."""
    return yaml.load(text, Loader=LOADER)
