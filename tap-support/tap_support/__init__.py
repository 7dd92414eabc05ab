"""What this project's Singer taps (tap-klaviyo, tap-csv) share on top of singer-sdk.

- `output`: `BufferedSingerWriter`, Singer messages to stdout with msgspec, written in chunks rather than a system
  call per record, and pages of RECORD lines encoded already (`write_lines`); `write_all`, every byte of a write
  to stdout, which with PYTHONUNBUFFERED can take part of it;
- `settings`: `read_settings`, a plugin's config as one typed object, defaults taken from its `config_jsonschema`
  (the one place they are written).

Installed next to each tap (they run in separate virtual environments under Meltano).
"""

from .output import BufferedSingerWriter, write_all
from .settings import read_settings, schema_defaults

__all__ = ["BufferedSingerWriter", "read_settings", "schema_defaults", "write_all"]
