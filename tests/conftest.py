"""Suite-wide rules (suite_rules.py): a run that skipped a test, or ran none, is a failed run; the longest modules
run first.

The sandbox fixtures (`klaviyo_sandbox`, `klaviyo_sandbox_factory`) come from the klaviyo-sandbox package's
pytest plugin, registered when the package is installed.
"""

from __future__ import annotations

# moto_s3, moto_factory, closed_port_url, aws_env: a local S3 for every test folder (tap, target, e2e).
pytest_plugins = ["local_s3", "suite_rules"]
