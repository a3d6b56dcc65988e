"""Errors that a user can act on: each names the file, row or key and what was expected."""


class PadError(Exception):
    """Base class for errors caused by input or configuration, not by a bug."""


class DataError(PadError):
    """Input data does not match what the PAD protocol expects."""


class ConfigError(PadError):
    """A configuration value is missing or has the wrong type or value."""


class NumericalError(PadError):
    """Training or scoring produced non-finite numbers: a diverged model, never a metric."""


class StorageError(PadError):
    """An output could not be written (a full disk, a quota, a read-only file system): nothing was."""
