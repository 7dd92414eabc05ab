"""Errors a user fixes (a setting, a path, a file's header or rows), as opposed to bugs.

The command line (`tap.main`) ends a run on one of these with its message as the last line and exit code 1, no
traceback: the message names the setting or the file, which is all there is to act on. Any other exception is a
bug and keeps the SDK's traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem in the settings or the files; the message names the setting or the file."""


class SettingError(UserError):
    """A setting (`files`, `csv_files_definition` and what it holds) is missing or wrong."""
