"""NumPy twins of fastnn.ops.dropout."""
__all__ = []
