"""TapKlaviyo: every Klaviyo account a company owns, one run, one stream per endpoint."""

from __future__ import annotations

import typing as t
from datetime import datetime
from functools import cached_property

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from .accounts import Account, AccountsError, load_accounts, select_accounts
from .directory import AccountDirectory
from .fanout import run_accounts_in_parallel
from .output import BufferedMsgSpecWriter
from .streams import STREAM_TYPES

if t.TYPE_CHECKING:
    from .client import KlaviyoStream

REVISION = "2026-10-15"


class TapKlaviyo(Tap):
    name = "tap-klaviyo"
    # msgspec encodes Singer messages several times faster than the default simplejson writer.
    message_writer_class = BufferedMsgSpecWriter

    config_jsonschema = th.PropertiesList(
        th.Property(
            "accounts_file",
            th.StringType,
            description="Where the accounts are: `s3://bucket/key` or a local path to a JSON list of "
            '{"account": name, "api_key": private key}.',
        ),
        th.Property(
            "accounts_json",
            th.StringType,
            secret=True,
            description="The same JSON list given inline (instead of accounts_file).",
        ),
        th.Property(
            "accounts", th.StringType, description="Sync only these accounts: names, comma-separated (all when empty)."
        ),
        th.Property(
            "s3_endpoint_url",
            th.StringType,
            description="S3 endpoint for accounts_file, e.g. a local S3; empty for AWS.",
        ),
        th.Property("s3_region", th.StringType, description="AWS region of the accounts file's bucket."),
        th.Property(
            "start_date",
            th.DateTimeType,
            default="2012-01-01T00:00:00Z",
            description="Where incremental streams start without a bookmark, and on --full-refresh.",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default="https://a.klaviyo.com",
            description="Klaviyo's API base URL (a local sandbox in development and tests).",
        ),
        th.Property("revision", th.StringType, default=REVISION, description="Klaviyo API revision to pin."),
        th.Property(
            "profile_additional_fields",
            th.ArrayType(th.StringType),
            default=["subscriptions"],
            description="additional-fields[profile] to request: subscriptions, predictive_analytics "
            "(predictive_analytics moves profiles to a 10/s 150/m tier and is opt-in).",
        ),
        # A number, or the same as a string: Meltano 4.4 cannot pass a `decimal` setting to a plugin (its config
        # writer fails on Decimal), so meltano.yml declares this one as a string.
        th.Property(
            "rate_limit_scale",
            th.CustomType({"type": ["number", "string"], "pattern": r"^\d+(\.\d+)?$"}),
            default=1.0,
            description="Multiply Klaviyo's tiers by this when pacing (match a scaled sandbox); 0 = no pacing.",
        ),
        th.Property("request_timeout", th.IntegerType, default=300, description="Seconds per HTTP request."),
        th.Property(
            "parallel_accounts",
            th.IntegerType,
            default=4,
            description="Accounts read at the same time, each by its own tap process (limits are per "
            "account); 1 reads them one after another in this process.",
        ),
        th.Property(
            "window_concurrency",
            th.IntegerType,
            default=8,
            description="Time windows of events and profiles read at the same time within one account.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=10,
            description="Tries per request on 429, 5xx and connection errors.",
        ),
    ).to_dict()

    def discover_streams(self) -> list[KlaviyoStream]:
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]

    @cached_property
    def selected_accounts(self) -> list[Account]:
        config = self.config
        source: str | list[dict[str, t.Any]] | None = config.get("accounts_file") or config.get("accounts_json")
        if not source:
            raise AccountsError("Set accounts_file (s3://bucket/key or a path) or accounts_json.")
        return select_accounts(
            load_accounts(source, s3_endpoint_url=config.get("s3_endpoint_url"), s3_region=config.get("s3_region")),
            config.get("accounts"),
        )

    @cached_property
    def directory(self) -> AccountDirectory:
        config = self.config
        return AccountDirectory(
            self.selected_accounts,
            api_url=config["api_url"],
            revision=config["revision"],
            rate_limit_scale=float(config.get("rate_limit_scale", 1.0)),
            timeout=float(config.get("request_timeout", 300)),
            logger=self.logger,
        )

    # What streams ask of the run's accounts (keys stay inside the directory).
    def account_ids(self) -> list[str]:
        return self.directory.account_ids()

    def api_key(self, account_id: str) -> str:
        return self.directory.api_key(account_id)

    def account_name(self, account_id: str | None) -> str:
        return self.directory.account_name(account_id)

    def account_id_for_key(self, key: str) -> str | None:
        return self.directory.account_id_for_key(key)

    def limiter(self, account_id: str | None, endpoint: str) -> t.Any:
        return self.directory.limiter(account_id, endpoint)

    def group_ids(self, account_id: str, group: str) -> list[str]:
        return self.directory.group_ids(account_id, group)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        # singer-sdk checks types, not formats: a mistyped start_date would otherwise surface mid-sync.
        errors = super()._validate_config(raise_errors=False)
        start = self._config.get("start_date")
        if isinstance(start, str):
            try:
                datetime.fromisoformat(start)
            except ValueError:
                errors.append(f"config['start_date']: '{start}' is not an ISO 8601 date-time")
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors)
        return errors

    def sync_all(self) -> None:
        try:
            accounts = self.selected_accounts
        except AccountsError as error:
            # A clear line (naming the file, bucket or setting) rather than a traceback; nothing was written.
            raise SystemExit(f"tap-klaviyo: {error}") from None
        parallel = int(self.config.get("parallel_accounts", 4))
        if parallel > 1 and len(accounts) > 1:
            failed = run_accounts_in_parallel(
                dict(self.config), self.catalog.to_dict(), self.state, [a.name for a in accounts], parallel
            )
            if failed:
                raise SystemExit(
                    f"tap-klaviyo: {len(failed)} account(s) not synced: " + ", ".join(f"'{name}'" for name in failed)
                )
            return
        super().sync_all()
        failures = self.directory.failures
        if failures:
            names = ", ".join(f"'{name}' ({why})" for name, why in failures.items())
            raise SystemExit(f"tap-klaviyo: {len(failures)} account(s) not synced: {names}")


if __name__ == "__main__":
    TapKlaviyo.cli()
