"""What a user can fix: these end a run with one line naming the setting, file or account, and a non-zero exit.

Anything else keeps its traceback: that is a bug to report. Errors from Klaviyo itself are klaviyo_http's
(`KlaviyoHttpError`), and end a run the same way.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the run's settings or inputs; the message says which and what to do."""


class SettingError(UserError):
    """A setting is invalid; the message names it."""
