"""The project's YAML loader reads what PyYAML's safe loader reads, and refuses what it refuses."""

from __future__ import annotations

import pytest
import yaml

from pipelines.settings import PROJECT_DIR
from pipelines.yamlfile import safe_load


def test_the_repositorys_yaml_reads_as_with_pyyamls_safe_loader():
    files = [
        p
        for folder in ("contracts", "expectations", "dbt_project")
        for p in sorted((PROJECT_DIR / folder).rglob("*.yml"))
    ]
    assert len(files) > 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert safe_load(text) == yaml.safe_load(text), path


def test_invalid_or_unsafe_yaml_raises_yamls_error():
    with pytest.raises(yaml.YAMLError):
        safe_load("a: [1, 2\nb: 3\n")
    with pytest.raises(yaml.YAMLError):  # no Python objects from a document
        safe_load("!!python/object/apply:os.system ['true']\n")
    assert safe_load("") is None
