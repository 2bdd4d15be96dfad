from typing import Any

class Cache:
    """What a forward pass saves for its backward pass (``cache.op`` plus saved fields)."""

    op: str
    def __init__(self, op: str, **saved: Any) -> None: ...
    def __getattr__(self, name: str) -> Any: ...
