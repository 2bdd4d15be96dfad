"""NumPy twins of fastnn.ops.affine."""
__all__ = []
