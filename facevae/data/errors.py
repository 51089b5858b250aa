"""The two ways a dataset can be unusable; entry points print their message as one line (facevae.cli)."""


class LayoutError(RuntimeError):
    """The dataset folder is not laid out as expected; the message says what was expected."""


class DataError(RuntimeError):
    """Nothing usable could be prepared; the message says what facevae expected."""
