"""Klaviyo (the sandbox) and S3 (moto) started together, with the accounts file on S3, as `meltano.yml`'s
`local` environment expects them; `env()` gives the variables that point Meltano at them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from klaviyo_sandbox.pytest_plugin import RunningSandbox, start_sandbox

from .s3 import MotoS3, start_moto

ACCOUNTS_URI = "s3://klaviyo-accounts/accounts.json"  # meltano.yml, environment `local`
STATE_BUCKET = "klaviyo-warehouse-state"  # meltano.yml, state_backend.uri
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class LocalStack:
    sandbox: RunningSandbox
    s3: MotoS3

    def env(self) -> dict[str, str]:
        """Variables for a `meltano` process in the `local` environment (they win over `.env`)."""
        return {
            "KLAVIYO_API_URL": self.sandbox.url,
            "LOCAL_S3_ENDPOINT_URL": self.s3.endpoint_url,
            "KLAVIYO_LOCAL_API_KEY": self.sandbox.key(0),
            **CREDENTIALS,
        }

    def accounts(self) -> list[dict[str, str]]:
        """The accounts file as stored on S3 (names and keys, as a company keeps them)."""
        return [{"account": a["account"], "api_key": a["api_key"]} for a in self.sandbox.accounts]

    def stop(self) -> None:
        self.sandbox.stop()
        self.s3.stop()


def start_local_stack(*sandbox_args: str, sandbox_port: int = 0, s3_port: int = 0) -> LocalStack:
    """Start the sandbox (`klaviyo-sandbox serve` options) and moto; put the accounts file on S3."""
    sandbox = start_sandbox(*sandbox_args, "--port", str(sandbox_port))
    try:
        s3 = start_moto(port=s3_port)
    except Exception:
        sandbox.stop()
        raise
    stack = LocalStack(sandbox, s3)
    bucket, key = ACCOUNTS_URI.removeprefix("s3://").split("/", 1)
    s3.put(bucket, key, json.dumps(stack.accounts(), indent=2))
    s3.client().create_bucket(Bucket=STATE_BUCKET)
    return stack


def meltano_env(stack: LocalStack, **extra: str) -> dict[str, str]:
    """This process's environment with the stack's addresses, for running `meltano` as a child process."""
    return {**os.environ, **stack.env(), "MELTANO_ENVIRONMENT": "local", **extra}
