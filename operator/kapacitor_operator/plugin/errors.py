"""The two ways a command fails, mapped to kubectl's exit codes by the CLI."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class PluginError(Exception):
    """A failure to report as one `error: ...` line on stderr (exit code 1).

    The message must never hold a credential: it names Secrets and keys, not values.
    """

    exit_code = EXIT_ERROR


class UsageError(PluginError):
    """The command line itself is wrong (exit code 2, as for argparse errors)."""

    exit_code = EXIT_USAGE
