"""Placeholder: filled in by issue 6."""
__all__ = []
