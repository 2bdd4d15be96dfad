# cython: language_level=3
"""A bounded cache of large, 64-byte aligned memory blocks for op outputs.

Why: a training step allocates the same big arrays every iteration (layer
outputs, gradients).  glibc hands freed multi-megabyte blocks back to the OS,
so every step page-faults them in again and the kernel zeroes them: for a
16 MB activation that costs more than the activation itself.  fastnn's ops
take their large outputs from here instead; when the last array using a block
is garbage-collected, the block returns to the cache (up to a byte limit) and
the next same-sized request reuses it, already mapped.

Arrays from the cache are ordinary writeable ndarrays (their ``base`` is a
``Block``).  Requests below ``MIN_BYTES`` go to ``numpy.empty``.
"""
import numpy as np

from cpython.buffer cimport PyBUF_FORMAT, PyBUF_ND, PyBUF_STRIDES, PyBUF_WRITABLE

cdef extern from *:
    """
    #include <stdlib.h>
    #if defined(_MSC_VER)
    #include <malloc.h>
    static void *fnn_aligned_alloc(size_t n) { return _aligned_malloc(n, 64); }
    static void fnn_aligned_free(void *p) { _aligned_free(p); }
    #else
    static void *fnn_aligned_alloc(size_t n) { void *p = NULL; return posix_memalign(&p, 64, n) == 0 ? p : NULL; }
    static void fnn_aligned_free(void *p) { free(p); }
    #endif
    """
    void *fnn_aligned_alloc(size_t n) nogil
    void fnn_aligned_free(void *p) nogil

# Smaller requests are not worth caching (malloc keeps them mapped anyway).
MIN_BYTES = 1 << 20
# Sizes are rounded up to this granule so near-identical shapes share blocks.
cdef Py_ssize_t GRANULE = 1 << 16

cdef char *_FORMAT_B = b"B"       # static C string, lives as long as the module
cdef dict _free = {}            # size -> list of Block ready for reuse
cdef Py_ssize_t _cached = 0     # bytes held in _free
cdef Py_ssize_t _limit = 256 << 20
cdef Py_ssize_t _hits = 0, _misses = 0


cdef class Block:
    """One aligned allocation exposed through the buffer protocol.

    Made only by ``_take``; when it dies its memory goes back to the cache.
    """
    cdef char *data
    cdef Py_ssize_t nbytes
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]

    def __getbuffer__(self, Py_buffer *buf, int flags):
        buf.buf = self.data
        buf.obj = self
        buf.len = self.nbytes
        buf.readonly = 0
        buf.itemsize = 1
        buf.format = _FORMAT_B if flags & PyBUF_FORMAT else NULL
        buf.ndim = 1
        buf.shape = self.shape if flags & PyBUF_ND else NULL
        buf.strides = self.strides if flags & PyBUF_STRIDES else NULL
        buf.suboffsets = NULL
        buf.internal = NULL

    def __releasebuffer__(self, Py_buffer *buf):
        pass

    def __dealloc__(self):
        if self.data != NULL:
            _give_back(self.data, self.nbytes)
            self.data = NULL


cdef class _Stashed:
    """Memory waiting in the cache (exported to nobody)."""
    cdef char *data
    cdef Py_ssize_t nbytes

    def __dealloc__(self):
        if self.data != NULL:
            fnn_aligned_free(self.data)
            self.data = NULL


cdef void _give_back(char *data, Py_ssize_t nbytes) noexcept:
    """Keep `data` for reuse if the cache has room, else free it."""
    global _cached
    cdef _Stashed s
    # an object cannot be resurrected in __dealloc__, so the memory moves to a
    # small _Stashed holder; at interpreter exit (_free gone) it is just freed
    if _free is None or _cached + nbytes > _limit:
        fnn_aligned_free(data)
        return
    s = _Stashed.__new__(_Stashed)
    s.data = data
    s.nbytes = nbytes
    _free.setdefault(nbytes, []).append(s)
    _cached += nbytes


cdef Block _take(Py_ssize_t nbytes):
    """A Block of exactly `nbytes`: a cached one if any, else a new allocation."""
    global _cached, _hits, _misses
    cdef _Stashed s
    cdef char *data
    cdef Block b
    lst = _free.get(nbytes)
    if lst:
        s = lst.pop()
        if not lst:
            del _free[nbytes]
        _cached -= nbytes
        _hits += 1
        data = s.data
        s.data = NULL
    else:
        data = <char *>fnn_aligned_alloc(<size_t>nbytes)
        if data == NULL:
            raise MemoryError(f"fastnn: cannot allocate {nbytes} bytes")
        _misses += 1
    b = Block.__new__(Block)
    b.data = data
    b.nbytes = nbytes
    b.shape[0] = nbytes
    b.strides[0] = 1
    return b


def empty(shape, dtype):
    """An uninitialised C-contiguous array, from the cache when it is large."""
    dt = np.dtype(dtype)
    n = 1
    for s in shape:
        n *= s
    nbytes = n * dt.itemsize
    if nbytes < MIN_BYTES or _limit == 0:
        return np.empty(shape, dt)
    size = (nbytes + GRANULE - 1) // GRANULE * GRANULE
    return np.frombuffer(_take(size), dtype=dt, count=n).reshape(shape)


def empty_like(a):
    """``empty(a.shape, a.dtype)``."""
    return empty(a.shape, a.dtype)


def set_limit(Py_ssize_t nbytes):
    """Cap the bytes the cache may hold (0 disables it); frees what is over."""
    global _limit
    if nbytes < 0:
        raise ValueError(f"buffer cache limit must be >= 0 bytes, got {nbytes}")
    _limit = nbytes
    _trim()


cdef _trim():
    global _cached
    while _cached > _limit and _free:
        size = next(iter(_free))
        lst = _free[size]
        lst.pop()
        _cached -= size
        if not lst:
            del _free[size]


def clear():
    """Free every cached block."""
    global _cached
    _free.clear()
    _cached = 0


def info():
    """Dict: limit, cached bytes, blocks held, hits and misses."""
    return {"limit_bytes": _limit, "cached_bytes": _cached,
            "cached_blocks": sum(len(v) for v in _free.values()),
            "hits": _hits, "misses": _misses}
