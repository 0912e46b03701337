"""One exception type for problems the user can fix: the CLI prints its message
as a single line (no traceback unless --debug) and exits non-zero."""


class EvalkitError(Exception):
    """A user-facing error. The message names the offending value and the fix."""


class ConfigError(EvalkitError):
    pass


class DataError(EvalkitError):
    pass


class ModelError(EvalkitError):
    pass


class StoreError(EvalkitError):
    """The store file cannot be used as it is (written by a newer evalkit, not a database, ...)."""
