# Fixed slices of the batch.  A backward kernel that sums a gradient over the images
# (dw, db) cuts the batch into S slices fixed by the shape and sums each into its own
# partial row; the caller adds the rows in order.  So the result does not depend on the
# thread count: threads take whole slices.
from cython cimport floating
from libc.string cimport memset


cdef inline int slice_threads(int n_threads, Py_ssize_t S) noexcept nogil:
    """threads for S slices: one slice at least each, at least one thread"""
    if n_threads > S:
        n_threads = <int>S
    return n_threads if n_threads > 0 else 1


cdef inline void zero_partials(floating[:, ::1] dw_parts, double[:, ::1] db_parts) noexcept nogil:
    """the S partial rows of dw and db set to 0"""
    cdef Py_ssize_t sl, f
    for sl in range(dw_parts.shape[0]):
        memset(&dw_parts[sl, 0], 0, dw_parts.shape[1] * sizeof(floating))
        for f in range(db_parts.shape[1]):
            db_parts[sl, f] = 0
