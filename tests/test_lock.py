"""Issue 19: what gets installed is the lock, and the lock is pyproject.toml's.

The locks (`requirements.lock` for the service, `requirements-test.lock` with the test extra)
pin every package with its hashes; `make run`, `make test` (and so `.ci/run`) and the
platform's `requirements.txt` install from them. These tests need no network: they check
that the locks answer pyproject.toml as it is now (same direct dependencies, every pin inside
its declared range), that the two locks agree, and that each runtime lower bound is the
version locked, the only one the suite runs with.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "payment-status (pyproject.toml)"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def read_lock(name: str) -> dict[str, tuple[Version, int, set[str]]]:
    """Package -> (version, hashes, what it is there for)."""
    found: dict[str, tuple[Version, int, set[str]]] = {}
    current: str | None = None
    for line in (ROOT / name).read_text().splitlines():
        if match := _PIN.match(line):
            current = canonicalize_name(match.group(1))
            found[current] = (Version(match.group(2)), 0, set())
        elif current and "--hash=sha256:" in line:
            version, hashes, via = found[current]
            found[current] = (version, hashes + 1, via)
        elif current and line.strip().startswith("#"):
            text = line.strip().lstrip("#").strip()
            text = text.removeprefix("via").strip()
            if text:
                found[current][2].add(text)
    return found


def declared() -> tuple[list[Requirement], list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(text) for text in project["dependencies"]]
    test = [Requirement(text) for text in project["optional-dependencies"]["test"]]
    return runtime, test


def direct(lock: dict[str, tuple[Version, int, set[str]]]) -> set[str]:
    return {name for name, (_, _, via) in lock.items() if PROJECT in via}


def test_every_pin_carries_its_hashes() -> None:
    for name in ("requirements.lock", "requirements-test.lock"):
        lock = read_lock(name)
        assert lock, name
        assert [package for package, (_, hashes, _) in lock.items() if hashes == 0] == [], name


def test_the_locks_answer_pyproject_as_it_is() -> None:
    runtime, test = declared()
    service, with_tests = read_lock("requirements.lock"), read_lock("requirements-test.lock")
    assert direct(service) == {canonicalize_name(r.name) for r in runtime}
    assert direct(with_tests) == {canonicalize_name(r.name) for r in [*runtime, *test]}
    for requirement in runtime:
        assert service[canonicalize_name(requirement.name)][0] in requirement.specifier, requirement
    for requirement in [*runtime, *test]:
        assert with_tests[canonicalize_name(requirement.name)][0] in requirement.specifier, requirement


def test_the_two_locks_agree_on_every_package_they_share() -> None:
    service, with_tests = read_lock("requirements.lock"), read_lock("requirements-test.lock")
    assert set(service) <= set(with_tests)
    assert {n: service[n][0] for n in service} == {n: with_tests[n][0] for n in service}


def test_each_runtime_lower_bound_is_the_version_the_suite_runs_with() -> None:
    runtime, _ = declared()
    service = read_lock("requirements.lock")
    behind = []
    for requirement in runtime:
        lower = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
        locked = service[canonicalize_name(requirement.name)][0]
        if lower != [locked]:
            behind.append(f"{requirement.name}: declared {lower}, locked {locked}")
    assert behind == []


def test_every_install_path_installs_from_the_lock() -> None:
    assert "-r requirements.lock" in (ROOT / "requirements.txt").read_text().splitlines()
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements.lock" in makefile
    assert "--require-hashes -r requirements-test.lock" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()
