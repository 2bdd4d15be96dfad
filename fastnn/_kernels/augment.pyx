# Augmentation kernels (placeholder: filled in by the augmentation work of issue 6).
