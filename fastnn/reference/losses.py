"""NumPy twins of fastnn.ops.losses."""
__all__ = []
