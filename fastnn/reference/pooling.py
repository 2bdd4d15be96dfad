"""NumPy twins of fastnn.ops.pooling."""
__all__ = []
