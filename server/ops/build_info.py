"""What is running: the package's version and the source commit, for `/metrics`' build_info.

A platform's slug is not a git checkout, so the commit comes from the variables platforms set
(Heroku's dyno metadata `HEROKU_SLUG_COMMIT`, `SOURCE_VERSION` at build, others' `GIT_COMMIT`,
`RENDER_GIT_COMMIT`, `COMMIT_SHA`), else from the checkout's `.git`, else `unknown`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMIT_VARIABLES = ("HEROKU_SLUG_COMMIT", "SOURCE_VERSION", "GIT_COMMIT", "RENDER_GIT_COMMIT", "COMMIT_SHA")


@dataclass(frozen=True)
class BuildInfo:
    version: str
    commit: str


def _version() -> str:
    try:
        return metadata.version("payment-status")
    except metadata.PackageNotFoundError:  # run from the source tree, as the Procfile does
        pass
    try:
        project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        return str(project["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def _commit_from_git(root: Path) -> str | None:
    head = root / ".git"
    if head.is_file():  # a worktree: `gitdir: …`
        text = head.read_text(encoding="utf-8").strip()
        head = Path(text.removeprefix("gitdir:").strip())
    try:
        ref = (head / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not ref.startswith("ref:"):
        return ref
    name = ref.removeprefix("ref:").strip()
    for base in (head, _common_dir(head)):
        try:
            return (base / name).read_text(encoding="utf-8").strip()
        except OSError:
            pass
        try:
            for line in (base / "packed-refs").read_text(encoding="utf-8").splitlines():
                if line.endswith(" " + name):
                    return line.split(" ", 1)[0]
        except OSError:
            pass
    return None


def _common_dir(git_dir: Path) -> Path:
    try:
        return (git_dir / (git_dir / "commondir").read_text(encoding="utf-8").strip()).resolve()
    except OSError:
        return git_dir


@cache
def build_info() -> BuildInfo:
    commit = next((os.environ[name] for name in COMMIT_VARIABLES if os.environ.get(name)), None)
    return BuildInfo(_version(), (commit or _commit_from_git(ROOT) or "unknown")[:40])
