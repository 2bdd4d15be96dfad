from types import ModuleType

__all__ = ["install", "MODULES"]

MODULES: tuple[str, ...]

def install(name: str = "cs231n") -> ModuleType: ...
