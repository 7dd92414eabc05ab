"""Every command the READMEs tell a user to type runs as written.

What counts as a command (in every README.md of the repository):
- each line of a fenced block marked `sh`, `bash`, `shell` or `console` (in a `console` block, the lines after a
  `$ ` prompt), a line ending in `\\` or inside an open quote joined with the next;
- inline code in the prose that begins, after any `NAME=value` words, with `make`, `meltano`, a program under
  `.venv/bin/` or `.meltano/`, or one of this repository's commands (COMMANDS below), and gives it an argument.
  Inline code with a placeholder (`<...>`, `...`, `…`) shows a command's form, not one to type.

How they run: the READMEs in README_ORDER (README.md first, as a reader starts there: its runs load the warehouse
the snowflake-emulator README reads), each command in its README's order, in one fresh copy of the repository (its
tracked files, with the development venv linked, a `.meltano/` of its own whose plugin venvs are the checkout's, and
mypy's cache),
so that what they write (meltano.yml and .env by `meltano config set`, `.local/`, `output/`, files a README
creates) never touches the checkout. `.venv/bin` comes first on PATH, as after `source .venv/bin/activate`. The local
stand-ins (sandbox and S3) are started for them, with the accounts of `local-stand-ins up` (seed 7) and a small data
set, rate limits off (also TAP_KLAVIYO_RATE_LIMIT_SCALE=0), 30 days of report history (TAP_KLAVIYO_REPORT_HISTORY_DAYS:
the default 365 days of daily series are most of a first run's loading, 16% of its CPU here); their addresses are in
the variables `.env` sets, which win over it, and KLAVIYO_PRIVATE_KEY holds the first account's key. A command that
exits non-zero fails the test; a command the walk ran before (on PATH or under .venv/bin/, in any README) is not run
again, unless a `meltano config set` came since. Instead of running as written:
- a fenced block whose first line is `# production: <why>` is an example for production (real Klaviyo, S3,
  Snowflake, a cluster): not run here, and the README says so where the reader sees it;
- DRY_FORMS: commands that would run for minutes or change what other tests are using run in their own dry form;
- `meltano run` (and `meltano schedule run`, which runs its schedule's job) runs for real when it names a plugin
  (itself or through its job) that no real run of the walk has run yet, or none since a `meltano config set` of it
  (which changes what it does), dbt-snowflake's commands aside (dbt over the warehouse took 4 of the test's 26
  minutes on a loaded machine; tests/e2e/test_models.py runs them and checks what they build); otherwise with
  `--dry-run`, which parses it and finds its plugins and job without running them: a run on the stand-ins takes a
  minute on this machine, and tests/e2e runs the variants (full refresh, one account, some streams, record mode, the
  light schedule, dbt's commands) and checks what they load. A dry run checks the command's words only, so one
  that differs from a command the walk ran before only by the variables set in front of it
  (`TAP_KLAVIYO_ACCOUNTS=... meltano run tap-klaviyo target-snowflake`) is not run again (2 CPU-s each). Inline
  `meltano run` naming no plugin (`meltano run --full-refresh`) names the command in prose, it is not one to type;
- SERVERS: a command that serves until stopped is started on free ports instead of the README's fixed ones (other
  programs on the machine may hold those), must say it is listening, and is stopped.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from local_stand_ins.meltano_sys_dir import own_meltano_dir
from local_stand_ins.stack import start_local_stack

ROOT = Path(__file__).resolve().parents[1]
README_ORDER = [
    "README.md",
    "orchestrate/README.md",
    "snowflake-emulator/README.md",
    "warehouse-sql/README.md",
    "transform/README.md",
    "tap-klaviyo/README.md",
    "tap-support/README.md",
    "klaviyo-sandbox/README.md",
    "tap-csv/README.md",
    "target-klaviyo/README.md",
    "bench/README.md",
    "packaging/README.md",
]
COMMANDS = ("tap-klaviyo", "tap-csv", "target-klaviyo", "klaviyo-sandbox", "snowflake-emulator", "local-stand-ins")
SHELL_BLOCKS = ("sh", "bash", "shell", "console")
PRODUCTION = re.compile(r"#\s*production:\s*(\S.*)")
PLACEHOLDER = re.compile(r"<[^>]+>|\.\.\.|…")
# (what a command matches, how it runs instead, why)
DRY_FORMS = [
    (re.compile(r"^make "), lambda c: "make -n " + c.removeprefix("make "), "every target runs for minutes: "
     "`make demo` is tests/test_demo.py, `make test` this suite; -n prints what it would run"),
    (re.compile(r"\b(meltano|pip) install\b"), lambda c: f"{c} --help", "it would install again into the "
     "virtualenvs other tests are running (make setup installed them)"),
    (re.compile(r"\bbench/\w+\.py\b"), lambda c: f"{c} --help", "a benchmark runs for minutes (make bench)"),
    (re.compile(r"\bpytest\b"), lambda c: f"{c} --collect-only -q --assert=plain", "tests inside the tests; "
     "--assert=plain: nothing runs, so no assertion needs rewriting (half of a collection's CPU: 1.9 against 3.6 "
     "CPU-s for tests/sandbox, 2026-12-04)"),
    (re.compile(r"orchestrate/lock\.py$"), lambda c: f"{c} --check", "locking again resolves with PyPI; --check "
     "compares the locks with meltano.yml offline"),
    (re.compile(r"\bmeltano invoke dbt-snowflake\b"), lambda c: f"{c} --help", "dbt builds every model over the "
     "whole warehouse (a minute or more); the real `meltano run ... dbt-snowflake:run` before it built them, and "
     "tests/e2e/test_models.py checks what they hold; --help checks the command and its options"),
]  # fmt: skip
SERVERS = {  # what the command runs -> (how its fixed ports become free ones, what it prints once listening)
    "local-stand-ins up": (lambda c: c.replace(" up", " up --sandbox-port 0 --s3-port 0", 1), "Now, in this folder"),
    "klaviyo-sandbox serve": (lambda c: re.sub(r"--port \d+", "--port 0", c), "klaviyo-sandbox listening on"),
}
PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text())
JOBS = {job["name"]: job["tasks"] for job in PROJECT["jobs"]}
SCHEDULES = {schedule["name"]: schedule["job"] for schedule in PROJECT["schedules"] if "job" in schedule}
MELTANO_RUN = re.compile(r"\bmeltano run ")
SCHEDULE_RUN = re.compile(r"\bmeltano schedule run \S+")  # runs its job, as `meltano run <job>` would
NOT_RUN_FOR_REAL = {"dbt-snowflake"}  # the rule at the top
CONFIG_SET = re.compile(r"\bmeltano config set (\S+)")
VARIABLES_IN_FRONT = re.compile(r"^(?:[A-Z_]+=(?:'[^']*'|\"[^\"]*\"|\S+)\s+)+")  # NAME=value ... before a command
DATA = ("--accounts", "3", "--seed", "7", "--events", "300", "--profiles", "30", "--rate-limit-scale", "0")


@dataclass(frozen=True)
class Command:
    readme: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.readme}:{self.line}: {self.text}"


def fenced_commands(readme: str, text: str) -> tuple[list[Command], list[Command]]:
    """(commands, production examples) of a README's shell blocks."""
    commands: list[Command] = []
    production: list[Command] = []
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        opening = re.fullmatch(r"(\s*)```(\w*)\s*", lines[number])
        number += 1
        if not opening:
            continue
        indent, kind = opening.groups()
        body: list[tuple[int, str]] = []
        while number < len(lines) and lines[number].strip() != "```":
            body.append((number + 1, lines[number].removeprefix(indent)))
            number += 1
        number += 1
        if kind not in SHELL_BLOCKS:
            continue
        if kind == "console":
            body = [(n, line[2:]) for n, line in body if line.startswith("$ ")]
        marked = bool(body) and PRODUCTION.fullmatch(body[0][1].strip())
        for start, command in logical_lines(body):
            (production if marked else commands).append(Command(readme, start, command))
    return commands, production


def logical_lines(body: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """(first line number, command) of each command: continuation lines and open quotes joined, comment lines
    and blank lines dropped (a comment after a command stays: the shell drops it)."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, line in body:
        if pending is None and (not line.strip() or line.lstrip().startswith("#")):
            continue
        start, text = pending if pending else (number, "")
        text = f"{text}\n{line}" if text else line
        if text.endswith("\\") or not quotes_closed(text):
            pending = (start, text)
            continue
        pending = None
        out.append((start, without_comment(text.strip())))
    assert pending is None, f"a command runs to the end of its block: {pending}"
    return out


def without_comment(command: str) -> str:
    """The command without a comment at its end (the shell drops it), spaces collapsed outside quotes."""
    quote = ""
    for index, char in enumerate(command):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or command[index - 1].isspace()):
            return command[:index].rstrip()
    return command.rstrip()


def quotes_closed(text: str) -> bool:
    try:
        shlex.split(text, comments=True)
    except ValueError:  # "No closing quotation"
        return False
    return True


def inline_commands(readme: str, text: str) -> list[Command]:
    prose = re.sub(r"```.*?```", lambda m: "\n" * m.group().count("\n"), text, flags=re.S)  # keep line numbers
    programs = r"make|meltano|\.venv/bin/\S+|\.meltano/\S+|" + "|".join(map(re.escape, COMMANDS))
    command = re.compile(rf"(?:[A-Z_]+=\S+\s+)*(?:{programs})\s+\S.*", re.S)
    found = []
    for match in re.finditer(r"`([^`]+)`", prose):
        code = " ".join(match.group(1).split())  # a span may be wrapped over lines
        if command.fullmatch(code) and not PLACEHOLDER.search(code):
            if MELTANO_RUN.search(f"{code} ") and not plugins_run(code):
                continue  # the command's name
            found.append(Command(readme, prose.count("\n", 0, match.start()) + 1, code))
    return found


def readme_commands(readme: str) -> tuple[list[Command], list[Command]]:
    """(commands in the README's order, production examples)."""
    text = (ROOT / readme).read_text(encoding="utf-8")
    fenced, production = fenced_commands(readme, text)
    return sorted([*fenced, *inline_commands(readme, text)], key=lambda c: c.line), production


def every_readme() -> list[str]:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [path for path in tracked.splitlines() if Path(path).name == "README.md"]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A fresh copy of the repository's tracked files, its venvs linked, its own `.meltano/`."""
    copy = tmp_path_factory.mktemp("checkout")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in tracked.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            (copy / name).write_bytes((ROOT / name).read_bytes())
            (copy / name).chmod((ROOT / name).stat().st_mode)
    (copy / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    own_meltano_dir(copy / ".meltano")
    if (ROOT / ".mypy_cache").is_dir():  # make lint's: mypy checks what changed only, as in the checkout
        shutil.copytree(ROOT / ".mypy_cache", copy / ".mypy_cache")
    return copy


@pytest.fixture(scope="module")
def environment(checkout):
    stack = start_local_stack(*DATA)
    env = {
        **os.environ,
        **stack.env(),
        "PATH": f"{checkout / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "TAP_KLAVIYO_RATE_LIMIT_SCALE": "0",
        "TAP_KLAVIYO_REPORT_HISTORY_DAYS": "30",
        "KLAVIYO_PRIVATE_KEY": stack.sandbox.key(0),
        # The copy's plugin venvs are the checkout's (linked): Meltano must not install a plugin again from the
        # copy's folders into them, which left the checkout's tap-csv importing from this test's deleted copy.
        "MELTANO_AUTO_INSTALL": "false",
    }
    for name in ("MELTANO_ENVIRONMENT", "MELTANO_SYS_DIR_ROOT", "MELTANO_DATABASE_URI", "SNOWFLAKE_EMULATOR_PATH"):
        env.pop(name, None)  # as on a user's machine: .env and meltano.yml decide
    yield env
    stack.stop()


def dry_form(command: str) -> str:
    for matches, dry, _ in DRY_FORMS:
        if matches.search(command):
            # A dry form applies to one command: in `a && b`, `a` would run as written.
            assert not re.search(r"&&|\|\||;|\|", command), f"one command per line, to run it dry: {command}"
            return dry(command)
    return command


def plugins_run(command: str) -> set[str]:
    """The plugins a `meltano run` command runs, its jobs' tasks read as theirs (`dbt-snowflake:run`: dbt-snowflake)."""
    words = shlex.split(command, comments=True)
    blocks = words[next(i for i, word in enumerate(words) if word == "run") + 1 :]
    names = [word for word in blocks if not word.startswith("-")]
    if SCHEDULE_RUN.search(command):
        names = [SCHEDULES[names[0]]]
    return {block.split(":")[0] for name in names for task in JOBS.get(name, [name]) for block in task.split()}


def run(command: str, checkout: Path, env: dict[str, str]) -> tuple[int, str]:
    for program, (free_ports, ready) in SERVERS.items():
        if program in command and "--help" not in command:
            return serve(free_ports(command), ready, checkout, env)
    result = subprocess.run(
        ["bash", "-c", dry_form(command)],
        cwd=checkout,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return result.returncode, result.stdout[-3000:] + result.stderr[-3000:]


def serve(command: str, ready: str, checkout: Path, env: dict[str, str]) -> tuple[int, str]:
    """Start a server, wait until it says it listens, stop it: (0, its output) or (its exit code or -1, output)."""
    log = checkout / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            ["bash", "-c", f"exec {command}"], cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 120
        while ready not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        listening = ready in log.read_text()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return (0 if listening else process.returncode or -1), log.read_text()[-3000:]


def test_every_readme_is_read():
    assert sorted(every_readme()) == sorted(README_ORDER)


@pytest.mark.timeout(1800)  # some forty commands, three of them Meltano runs: minutes on a loaded machine
def test_every_command_in_the_readmes_runs_as_written(checkout, environment):
    ran: list[str] = []
    failures = []
    production = []
    plugins_ran: set[str] = set()  # by a real run since their last `meltano config set`
    done: set[str] = set()  # commands the walk ran, since the last `meltano config set`
    checked_before: list[str] = []  # dry runs whose words the walk ran before (the rule at the top)
    for readme in README_ORDER:
        commands, examples = readme_commands(readme)
        production += examples
        for command in commands:
            key = command.text.replace(".venv/bin/", "")  # the same command, on PATH or not
            if key in done:
                continue
            done.add(key)
            text = command.text
            if MELTANO_RUN.search(text) or SCHEDULE_RUN.search(text):
                if plugins_run(text) - NOT_RUN_FOR_REAL <= plugins_ran:
                    if (words := VARIABLES_IN_FRONT.sub("", key)) in done and words != key:
                        checked_before.append(str(command))
                        continue
                    text = MELTANO_RUN.sub("meltano run --dry-run ", text, count=1)
                    text = SCHEDULE_RUN.sub(lambda schedule: f"{schedule.group()} --dry-run", text, count=1)
                plugins_ran |= plugins_run(text)
            elif found := CONFIG_SET.search(text):
                plugins_ran.discard(found.group(1))  # its next run does something else
                done = {key}  # and every command that ran before may now do something else
            started = time.monotonic()
            code, output = run(text, checkout, environment)
            ran.append(f"{command} ({'dry, ' if text != command.text else ''}{time.monotonic() - started:.0f} s)")
            if code != 0:
                failures.append(f"{command}\n  exit {code}\n{output}")
    print("Run:", *ran, sep="\n  ")
    print("Dry runs whose words ran before, not run again:", *checked_before, sep="\n  ")
    print("Examples for production, not run:", *production, sep="\n  ")
    assert not failures, "\n\n".join(failures)
    assert len(ran) > 20 and production  # the rule found the commands it should
