"""Renamed keyword arguments: the old spelling keeps working, with a DeprecationWarning."""
import warnings

__all__ = ["renamed_argument"]


def renamed_argument(fn, new, new_value, old, old_value, new_default=None, stacklevel=3,
                     meaning="same meaning"):
    """The value of keyword ``new`` when the caller may have used its deprecated spelling ``old``.

    ``old_value is None`` means the old spelling was not used: ``new_value`` is returned.
    Otherwise a DeprecationWarning names both spellings and ``old_value`` is returned; giving
    both (``new_value`` other than ``new_default``) is a TypeError.  ``stacklevel`` 3 points
    the warning at the caller of the function that calls this one; ``meaning`` tells how the
    two spellings relate.
    """
    if old_value is None:
        return new_value
    if new_value is not new_default and not _same(new_value, new_default):
        raise TypeError(f"{fn}: got both {new}= and {old}=, its deprecated spelling; "
                        f"pass only {new}=")
    warnings.warn(f"{fn}: {old}= is deprecated, use {new}= ({meaning})", DeprecationWarning,
                  stacklevel=stacklevel)
    return old_value


def _same(a, b):
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
