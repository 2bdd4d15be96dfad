# pooling kernels (compiled per SIMD target; see activations.pyx for the layout conventions).
