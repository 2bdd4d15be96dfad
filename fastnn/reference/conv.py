"""NumPy twins of fastnn.ops.conv."""
__all__ = []
