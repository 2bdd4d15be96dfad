KERNEL_MODULES: tuple[str, ...]
RUNTIME_MODULES: tuple[str, ...]
