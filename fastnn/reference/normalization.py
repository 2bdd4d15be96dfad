"""NumPy twins of fastnn.ops.normalization."""
__all__ = []
