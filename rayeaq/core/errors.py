"""User-facing errors. The CLIs print their message on one line and exit with code 2."""


class UserError(Exception):
    """A mistake in what the user gave us (config, paths, data); never shown as a traceback."""


class ConfigError(UserError):
    """A config file or override is invalid. The message names the source, key path and expectation."""


class DatasetError(UserError):
    """A dataset directory is missing, malformed or incompatible. The message names the file and field."""


class EnvUnavailableError(UserError):
    """An environment backend cannot be used here (package or game missing)."""
