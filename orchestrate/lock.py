"""Pin every virtualenv of the image, so orchestrate/Dockerfile installs offline and the same way every time.

Meltano installs each plugin into its own virtualenv from the plugin's `pip_url`, which names ranges (and local
folders whose pyproject.toml names ranges). This writes one lock per virtualenv in orchestrate/locks/: `meltano`
(the pin in requirements/dev.txt, with the S3 state backend) and one per plugin of meltano.yml. The Dockerfile
installs each with its lock as the constraint, from a wheelhouse, with no network.

    .venv/bin/python orchestrate/lock.py                  # resolve the locks meltano.yml outgrew (needs PyPI)
    .venv/bin/python orchestrate/lock.py --all            # resolve every lock again, newer releases and all
    .venv/bin/python orchestrate/lock.py --check          # offline: exit 1 naming locks meltano.yml outgrew
    .venv/bin/python orchestrate/lock.py --download wheels  # every locked wheel into wheels/ (for docker build)
    .venv/bin/python orchestrate/lock.py --download DIR --plugins tap-klaviyo,target-klaviyo  # only their wheels
    .venv/bin/python orchestrate/lock.py --install        # in the image: `meltano install` each plugin, locked

A lock is resolved with requirements/dev.txt as constraints, so a plugin gets the versions the tests ran with;
a plugin whose own pins conflict with them (target-snowflake pins a newer singer-sdk) is resolved on its own, and
its lock says so. Each lock's header records what it was made from: the pip_url and a fingerprint of the
dependencies of every local folder in it; `--check` compares those without resolving anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

import yaml

ORCHESTRATE = Path(__file__).resolve().parent
ROOT = ORCHESTRATE.parent
LOCKS = ORCHESTRATE / "locks"
DEV_REQUIREMENTS = ROOT / "requirements" / "dev.txt"
PYTHON_VERSION = "3.11"  # the image's Python (orchestrate/Dockerfile)
PLATFORM = "x86_64-manylinux_2_28"  # the image's glibc (python:3.11-slim-bookworm: 2.36)
WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
MELTANO = "meltano"
# The build backend of the project's own packages: installed from the wheelhouse when the image builds them.
BUILD_BACKEND = ("setuptools", "wheel")


class LockError(Exception):
    """A lock cannot be made or checked; the message names the plugin and the file."""


def dev_pins() -> dict[str, str]:
    pins = {}
    for line in DEV_REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            pins[name.lower().replace("_", "-")] = version
    return pins


def requirements(meltano_yml: Path) -> dict[str, str]:
    """Lock name -> the requirements it pins (a pip_url): Meltano's own virtualenv, then every plugin's."""
    return {MELTANO: f"meltano[s3]=={dev_pins()['meltano']}", **plugin_requirements(meltano_yml)}


def plugin_requirements(meltano_yml: Path) -> dict[str, str]:
    project = yaml.safe_load(meltano_yml.read_text(encoding="utf-8"))
    wanted = {}
    for kind, plugins in (project.get("plugins") or {}).items():
        for plugin in plugins or []:
            if not plugin.get("pip_url"):
                raise LockError(f"{meltano_yml}: {kind} {plugin.get('name')!r} has no pip_url")
            wanted[plugin["name"]] = " ".join(plugin["pip_url"].split())
    return wanted


def local_folders(pip_url: str) -> list[str]:
    return [token for token in shlex.split(pip_url) if token.startswith(("./", "../"))]


def fingerprint(folder: str) -> str:
    """What in a local package changes its resolution: its dependencies, Python range and build backend."""
    pyproject = ROOT / folder / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "missing"
    project = data.get("project", {})
    relevant = {
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "requires-python": project.get("requires-python"),
        "build-requires": data.get("build-system", {}).get("requires", []),
    }
    return "sha256:" + hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def header(name: str, pip_url: str) -> list[str]:
    """The lines that say what a lock was made from (compared by --check)."""
    lines = [f"# pip_url: {pip_url}"]
    lines += [
        f"# source: {folder.removeprefix('./')}/pyproject.toml {fingerprint(folder)}"
        for folder in local_folders(pip_url)
    ]
    return lines


def compile_lock(name: str, pip_url: str) -> list[str]:
    """`name==version` lines for every package a pip_url needs from the index (local folders left out)."""
    for folder in local_folders(pip_url):
        if not (ROOT / folder / "pyproject.toml").is_file():
            raise LockError(f"{name}: pip_url names {folder}, which has no pyproject.toml")
    lines = [
        str((ROOT / token).resolve()) if token.startswith(("./", "../")) else token
        for token in shlex.split(pip_url)
        if token != "-e"
    ]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{name}.in"
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        base = [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "compile",
            str(source),
            "--python-version",
            PYTHON_VERSION,
            "--python-platform",
            PLATFORM,
            "--no-header",
            "--no-annotate",
            "--quiet",
        ]
        constrained = subprocess.run([*base, "-c", str(DEV_REQUIREMENTS)], capture_output=True, text=True, check=False)
        result, note = constrained, "constrained by requirements/dev.txt"
        if constrained.returncode != 0:
            result = subprocess.run(base, capture_output=True, text=True, check=False)
            reason = next(
                (
                    line.strip().removeprefix("cause: ")
                    for line in constrained.stderr.splitlines()
                    if "because" in line.lower()
                ),
                "conflicts with requirements/dev.txt",
            )
            note = f"resolved on its own: {reason}"
        if result.returncode != 0:
            raise LockError(f"{name}: cannot resolve {pip_url!r}: {result.stderr.strip()}")
    pins = sorted(
        (line.strip() for line in result.stdout.splitlines() if "==" in line and not line.startswith("#")),
        key=str.lower,
    )
    return [f"# {note}", *pins]


def lock_text(name: str, pip_url: str, pins: list[str]) -> str:
    intro = [
        f"# Pinned requirements of the `{name}` virtualenv in the image (orchestrate/Dockerfile).",
        "# Written by orchestrate/lock.py from meltano.yml; do not edit, run `.venv/bin/python orchestrate/lock.py`.",
    ]
    return "\n".join([*intro, *header(name, pip_url), *pins]) + "\n"


def stale_locks(meltano_yml: Path) -> list[str]:
    return [problem for _, problem in stale(meltano_yml)]


def stale(meltano_yml: Path) -> list[tuple[str, str]]:
    """(plugin, what is wrong) for each lock meltano.yml outgrew; plugin "" for a lock of no plugin any more."""
    problems = []
    wanted = requirements(meltano_yml)
    for name, pip_url in wanted.items():
        path = LOCKS / f"{name}.txt"
        if not path.is_file():
            problems.append((name, f"{path}: missing ({name} is in meltano.yml)"))
            continue
        recorded = [
            line
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith(("# pip_url:", "# source:"))
        ]
        if recorded != header(name, pip_url):
            made_from, now = " | ".join(recorded), " | ".join(header(name, pip_url))
            problems.append((name, f"{path}: made from {made_from}; meltano.yml now says {now}"))
    problems += [
        ("", f"{path}: {path.stem} is not in meltano.yml any more")
        for path in sorted(LOCKS.glob("*.txt"))
        if path.stem not in wanted
    ]
    return problems


def download(directory: Path, plugins: Sequence[str] = ()) -> None:
    """Every pinned wheel of every lock (or of the named plugins' locks), plus the build backend of the local
    packages, into `directory`."""
    pins = dev_pins()
    platforms = [option for platform in WHEEL_PLATFORMS for option in ("--platform", platform)]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        *platforms,
        "-d",
        str(directory),
    ]
    # One lock at a time: two locks may pin two versions of one package (singer-sdk), which pip refuses in one go.
    for path in sorted(LOCKS.glob("*.txt")):
        if not plugins or path.stem in plugins:
            subprocess.run([*command, "-r", str(path)], check=True)
    subprocess.run([*command, *(f"{name}=={pins[name]}" for name in BUILD_BACKEND)], check=True)


def write_locks(meltano_yml: Path, *, every: bool = False) -> int:
    """Resolve the locks meltano.yml outgrew (`every`: all of them) again; one that cannot be resolved is reported
    and the others are still written. Only the outgrown ones by default: resolving a lock again takes PyPI's newest
    releases within its ranges, which a change to another plugin should not bring in."""
    LOCKS.mkdir(exist_ok=True)
    wanted = requirements(meltano_yml)
    outgrown = {name for name, _ in stale(meltano_yml)}
    failed = 0
    for name, pip_url in wanted.items():
        if not every and name not in outgrown:
            continue
        try:
            pins = compile_lock(name, pip_url)
        except LockError as exc:
            print(f"lock: {exc}", file=sys.stderr)
            failed += 1
            continue
        (LOCKS / f"{name}.txt").write_text(lock_text(name, pip_url, pins), encoding="utf-8")
        print(f"wrote {LOCKS / f'{name}.txt'}")
    for path in LOCKS.glob("*.txt"):
        if path.stem not in wanted:
            path.unlink()
            print(f"removed {path}")
    return 2 if failed else 0


def install(meltano_yml: Path) -> None:
    """`meltano install` each plugin with its lock as uv's constraint (the Dockerfile sets uv offline, finding
    wheels in the wheelhouse); one at a time, because each plugin has its own lock."""
    meltano = Path(sys.executable).with_name("meltano")
    for name in plugin_requirements(meltano_yml):
        env = {**os.environ, "UV_CONSTRAINT": str(LOCKS / f"{name}.txt")}
        result = subprocess.run([str(meltano), "install", name], cwd=meltano_yml.parent, env=env, check=False)
        if result.returncode != 0:
            raise LockError(f"{name}: meltano install failed (exit {result.returncode}); see the output above")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meltano-yml", type=Path, default=ROOT / "meltano.yml")
    parser.add_argument("--check", action="store_true", help="offline: exit 1 if a lock is out of date")
    parser.add_argument("--all", action="store_true", help="resolve every lock again, not only the outgrown ones")
    parser.add_argument("--download", type=Path, metavar="DIR", help="download every locked wheel into DIR")
    parser.add_argument("--plugins", default="", help="with --download: only these plugins' locks, comma-separated")
    parser.add_argument("--install", action="store_true", help="meltano install every plugin with its lock")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = stale_locks(args.meltano_yml)
            for problem in problems:
                print(f"lock: {problem}; run .venv/bin/python orchestrate/lock.py", file=sys.stderr)
            return 1 if problems else 0
        if args.download:
            download(args.download, [name for name in args.plugins.split(",") if name])
            return 0
        if args.install:
            install(args.meltano_yml)
            return 0
        return write_locks(args.meltano_yml, every=args.all)
    except LockError as exc:
        print(f"lock: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
