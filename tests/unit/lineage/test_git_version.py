"""The code version recorded in lineage: the checked-out commit, in a checkout or a worktree."""

from __future__ import annotations

from pathlib import Path

from pipelines.lineage.events import read_git_version

SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER = "89abcdef0123456789abcdef0123456789abcdef"


def _repo(root: Path) -> Path:
    git = root / "repo" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(SHA + "\n")
    (git / "packed-refs").write_text(f"# pack-refs\n{OTHER} refs/heads/model\n")
    return git


def test_a_checkout_reads_its_branch_head(tmp_path: Path):
    _repo(tmp_path)
    assert read_git_version(tmp_path / "repo") == SHA


def test_a_worktree_follows_its_gitdir_to_the_shared_refs(tmp_path: Path):
    git = _repo(tmp_path)
    own = git / "worktrees" / "model"
    own.mkdir(parents=True)
    (own / "HEAD").write_text("ref: refs/heads/model\n")
    (own / "commondir").write_text("../..\n")
    tree = tmp_path / "model"
    tree.mkdir()
    (tree / ".git").write_text(f"gitdir: {own}\n")
    assert read_git_version(tree) == OTHER  # from the main repository's packed-refs
    (git / "refs" / "heads" / "model").write_text(SHA + "\n")
    assert read_git_version(tree) == SHA


def test_no_repository_gives_none(tmp_path: Path):
    assert read_git_version(tmp_path) is None
