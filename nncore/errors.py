"""Errors a user can cause. Each carries a message that says what was wrong and what to do.

Everything else that escapes the engine is a bug, and callers may show it as one.
"""


class NNCoreError(ValueError):
    """A mistake in the user's data, settings or files, explained in plain words."""


class DataError(NNCoreError):
    """The data cannot be read or cannot be learned from as it is."""


class ConfigError(NNCoreError):
    """An experiment setting is unknown, out of range or does not fit the task."""


class ModelFileError(NNCoreError):
    """A model file cannot be used: unreadable, unsafe or not made for this data."""


class JobError(NNCoreError):
    """A background job failed: its worker crashed, ran out of memory or the job was lost."""
