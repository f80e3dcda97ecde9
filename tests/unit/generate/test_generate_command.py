"""The ``generate`` subcommand: argument handling, output and refusal to overwrite."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from pipelines.generate.command import register


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipelines")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return int(args.func(args))


def test_help_explains_and_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args(["generate", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for fragment in ("--orders", "--items", "--defects", "--force", "examples:", "late_file"):
        assert fragment in text


def test_generates_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "landing"
    argv = ["generate", "--orders", "400", "--out", str(out), "--days", "2", "--seed", "3"]
    argv += ["--start", "2018-03-01", "--defects", "orphan_fk,null_required"]
    code = _run([*argv, "--defect-count", "1"])
    assert code == 0
    captured = capsys.readouterr()
    assert "2018-03-01: " in captured.err and "rows/s" in captured.err
    assert "orders" in captured.out and "2 injected defects" in captured.out
    manifest = json.loads((out / "_generation.json").read_text())
    assert manifest["arguments"]["start"] == "2018-03-01"
    assert manifest["arguments"]["defects"] == ["null_required", "orphan_fk"]
    assert (out / "2018-03-02" / "olist_orders_dataset.csv.gz").is_file()


def test_refuses_non_empty_out_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["generate", "--orders", "50", "--out", str(tmp_path), "-q"]) == 0
    assert _run(["generate", "--orders", "50", "--out", str(tmp_path), "-q"]) == 2
    assert "--force" in capsys.readouterr().err
    assert _run(["generate", "--items", "60", "--out", str(tmp_path), "-q", "--force"]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--out", "x"],  # no size
        ["generate", "--orders", "5", "--items", "5", "--out", "x"],
        ["generate", "--orders", "0", "--out", "x"],
        ["generate", "--orders", "5", "--out", "x", "--defects", "typo"],
        ["generate", "--orders", "5", "--out", "x", "--format", "xlsx"],
        ["generate", "--orders", "5", "--out", "x", "--start", "yesterday"],
    ],
)
def test_bad_arguments_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args(argv)
    assert exit_.value.code == 2


def test_all_defects(tmp_path: Path) -> None:
    args = _parser().parse_args(["generate", "--orders", "5", "--out", "x", "--defects", "all"])
    assert "late_file" in args.defects and len(args.defects) == 7


def test_generates_onto_an_object_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], s3_env
) -> None:
    from pipelines.lake.storage import lake_storage

    url = f"s3://{s3_env.bucket}/{tmp_path.name}/landing"
    argv = ["generate", "--orders", "50", "--days", "1", "--out", url, "-q"]
    assert _run(argv) == 0
    assert f"folders under {url}" in capsys.readouterr().out
    store = lake_storage(url)
    top = store.scan("")
    assert top.folders[0] == "2018-01-01" and "_generation.json" in top.files
    assert "olist_orders_dataset.csv.gz" in store.scan("2018-01-01").files

    assert _run(argv) == 2  # not empty: --force uploads over it
    assert "is not empty" in capsys.readouterr().err
    assert _run([*argv, "--force"]) == 0
