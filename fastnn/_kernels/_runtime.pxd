# The parallel thresholds every kernel module reads (defined in _runtime.pyx, one table for
# every SIMD target's modules).  A key per family of kernels with one cost per element;
# its name, default and measurement are in _runtime.pyx's PARALLEL_THRESHOLDS.

cdef enum ParallelKey:
    PAR_ACTIVATIONS_CHEAP           # relu, leaky relu, prelu, maxout selection
    PAR_ACTIVATIONS_TRANSCENDENTAL  # sigmoid, tanh, elu, gelu, softplus, silu
    PAR_AFFINE                      # bias add, column sums
    PAR_AFFINE_GEMM                 # blocked GEMM driver (counted in multiply-adds)
    PAR_AUGMENT
    PAR_CONV                        # im2col / col2im and the layout passes
    PAR_DROPOUT
    PAR_LOSSES_CHEAP                # svm, mse
    PAR_LOSSES_TRANSCENDENTAL       # softmax cross-entropy, bce
    PAR_NORMALIZATION
    PAR_OPTIM_SGD                   # sgd, momentum, scale, clamp, norms
    PAR_OPTIM_ADAPTIVE              # rmsprop, adam, adamw, adagrad
    PAR_POOLING
    N_PARALLEL_KEYS


cdef Py_ssize_t parallel_min(ParallelKey key) noexcept nogil
cdef Py_ssize_t stream_min_bytes() noexcept nogil
