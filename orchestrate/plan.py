"""The first step of an Argo run: which accounts get a pod, and what every pod is told.

The extractor's configuration is read as Meltano resolves it in the pod's environment (`meltano config print`),
so the accounts come from the same file the tap reads, through the tap's own loader. Only account NAMES leave this
step: keys stay in memory, never in an output, a log line or an Argo parameter. The run's parameters (the old app's
`sync_type`, `included_steps`, `single_account`) are checked and written for the sync pods, in --output-dir:

  accounts.json       [{"account": name, "state_id_suffix": suffix}, ...]  Argo `withParam`: one pod each
  select_filter.json  the streams as Meltano's select filter (TAP_KLAVIYO__SELECT_FILTER), [] for every stream
  full_refresh.json   true | false  (MELTANO_RUN_FULL_REFRESH, i.e. `meltano run --full-refresh`)
  mark_deletions.json true | false  whether the run ends with mark-deletions: only when it covers every account
                      (neither single_account nor the `accounts` setting limits it), as tap-klaviyo's own rule

Exit 2: a parameter is wrong (an unknown account or stream, a bad sync_type); Argo does not retry it. Exit 1: the
accounts or the configuration could not be read (S3 down, a malformed file); Argo retries.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from tap_klaviyo.accounts import AccountsError, run_accounts, select_accounts
from tap_klaviyo.errors import SettingError
from tap_klaviyo.settings import LIGHT, tap_settings
from tap_klaviyo.streams import STREAM_TYPES

SYNC_TYPES = {"incremental": False, "full": True}
ALL_STREAMS = "all"
# Meltano joins state id parts with ':' and the S3 state backend turns '/' into folders; Argo mutex names and pod
# names want no spaces. Anything else in an account name becomes '-' in its state id suffix.
UNSAFE_IN_SUFFIX = re.compile(r"[^A-Za-z0-9_.-]+")
PARAMETER_ERROR = 2
READ_ERROR = 1
# The state id suffix of the run's last step (orchestrate/render.py MARK_DELETIONS): no account may have it.
RESERVED_SUFFIXES = {"mark-deletions"}


class PlanError(Exception):
    """The run cannot start; `exit_code` says whether retrying could help."""

    def __init__(self, message: str, exit_code: int = PARAMETER_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Plan:
    accounts: list[dict[str, str]]
    select_filter: list[str]
    full_refresh: bool
    mark_deletions: bool

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name, value in (
            ("accounts", self.accounts),
            ("select_filter", self.select_filter),
            ("full_refresh", self.full_refresh),
            ("mark_deletions", self.mark_deletions),
        ):
            (directory / f"{name}.json").write_text(json.dumps(value), encoding="utf-8")

    def summary(self) -> str:
        names = ", ".join(entry["account"] for entry in self.accounts)
        streams = ", ".join(self.select_filter) or "every stream"
        mode = "full refresh (bookmarks ignored)" if self.full_refresh else "incremental"
        deletions = (
            "then mark deletions"
            if self.mark_deletions
            else "deletions not marked (a light run, or some accounts only: the next full run of every account marks "
            "them)"
        )
        return f"plan: {len(self.accounts)} account(s), one pod each: {names}; {streams}; {mode}; {deletions}"


def full_refresh(sync_type: str) -> bool:
    key = sync_type.strip().lower()
    if key not in SYNC_TYPES:
        raise PlanError(f"sync_type {sync_type!r}: use one of {', '.join(SYNC_TYPES)}")
    return SYNC_TYPES[key]


def select_filter(included_steps: str, streams: list[str]) -> list[str]:
    """`all` (or empty) -> [] (Meltano selects every stream); else the comma-separated names or patterns,
    each checked to match at least one stream, as Meltano matches them (fnmatch, `!` to leave out)."""
    text = included_steps.strip()
    if text.lower() in ("", ALL_STREAMS):
        return []
    patterns = []
    for part in text.split(","):
        pattern = part.strip().lower()
        if not pattern:
            continue
        body = pattern.removeprefix("!")
        if not body or "." in body or not any(fnmatchcase(stream, body) for stream in streams):
            raise PlanError(
                f"included_steps: {part.strip()!r} names no stream; streams are "
                f"{', '.join(streams)} (comma-separated, * patterns, !name to leave one out, or "
                f"{ALL_STREAMS!r})"
            )
        patterns.append(pattern)
    if not patterns:
        raise PlanError(f"included_steps {included_steps!r} names no stream")
    return patterns


def state_id_suffix(name: str) -> str:
    return UNSAFE_IN_SUFFIX.sub("-", name).strip("-.")


def account_entries(names: list[str]) -> list[dict[str, str]]:
    entries: list[dict[str, str]] = []
    owner: dict[str, str] = {}
    for name in names:
        if "," in name:
            # The tap's `accounts` setting is comma-separated: this account cannot be told apart from others.
            raise PlanError(
                f"account {name!r}: a name with a comma cannot be synced on its own; rename it in the accounts file",
                READ_ERROR,
            )
        suffix = state_id_suffix(name)
        if not suffix:
            raise PlanError(
                f"account {name!r}: no letter or digit to make a state id from; rename it in the accounts file",
                READ_ERROR,
            )
        if suffix.lower() in RESERVED_SUFFIXES:
            raise PlanError(
                f"account {name!r}: its state id suffix {suffix!r} is taken by the run's last step; rename it "
                "in the accounts file",
                READ_ERROR,
            )
        if suffix in owner:
            raise PlanError(
                f"accounts {owner[suffix]!r} and {name!r} would share the state id suffix {suffix!r}; "
                "rename one in the accounts file",
                READ_ERROR,
            )
        owner[suffix] = name
        entries.append({"account": name, "state_id_suffix": suffix})
    return entries


def meltano_config(meltano: str, environment: str, extractor: str, project_dir: Path) -> dict[str, Any]:
    """The extractor's configuration as its pods will get it. --unsafe: an inline accounts_json is sensitive
    and would come back redacted; the output stays in this process."""
    command = [meltano, "--environment", environment, "config", "--unsafe", "print", "--format", "json", extractor]
    try:
        result = subprocess.run(command, cwd=project_dir, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PlanError(f"cannot run {' '.join(command[:2])}: {exc}", READ_ERROR) from None
    if result.returncode != 0:
        last = [line for line in result.stderr.splitlines() if line.strip()][-3:]
        raise PlanError(
            f"`meltano config print {extractor}` failed (exit {result.returncode}): " + " | ".join(last), READ_ERROR
        )
    try:
        config = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise PlanError(f"`meltano config print {extractor}` did not print JSON", READ_ERROR) from None
    if not isinstance(config, dict):
        raise PlanError(f"`meltano config print {extractor}` did not print an object", READ_ERROR)
    return config


def make_plan(config: dict[str, Any], *, refresh: bool, accounts: str, patterns: list[str]) -> Plan:
    wanted = accounts.strip() or str(config.get("accounts") or "")
    try:
        # Every account of the list (the tap's own reader), then those the run names.
        every = run_accounts(tap_settings({key: value for key, value in config.items() if key != "accounts"}))
    except (AccountsError, SettingError) as exc:
        raise PlanError(f"accounts: {exc}", READ_ERROR) from None
    try:
        chosen = select_accounts(every, wanted)
    except AccountsError as exc:
        raise PlanError(f"single_account: {exc}") from None
    # A run limited to some accounts cannot tell which rows of the others' were deleted (tap-klaviyo versions.py);
    # a light run reads none of the listings whose deletions are marked.
    light = config.get("scope") == LIGHT
    return Plan(
        account_entries([account.name for account in chosen]),
        patterns,
        refresh,
        mark_deletions=not wanted and not light,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meltano", default="meltano", help="the meltano executable")
    parser.add_argument("--environment", required=True, help="Meltano environment the pods run in")
    parser.add_argument("--extractor", required=True, help="the plugin whose accounts are listed")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd())
    parser.add_argument("--sync-type", default="incremental")
    parser.add_argument("--accounts", default="", help="account names, comma-separated; empty: every account")
    parser.add_argument("--streams", default=ALL_STREAMS, help="`all` or stream names/patterns, comma-separated")
    parser.add_argument("--output-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        # The parameters that need no configuration first: a typo stops the run before Meltano starts (seconds).
        refresh = full_refresh(args.sync_type)
        patterns = select_filter(args.streams, [stream_type.name for stream_type in STREAM_TYPES])
        config = meltano_config(args.meltano, args.environment, args.extractor, args.project_dir)
        plan = make_plan(config, refresh=refresh, accounts=args.accounts, patterns=patterns)
    except PlanError as exc:
        print(f"plan: {exc}", file=sys.stderr)
        return exc.exit_code
    plan.write(args.output_dir)
    print(plan.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
