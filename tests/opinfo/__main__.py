"""``python -m opinfo`` (from ``tests/``): the number of ops and of error inputs."""
from . import OPS, all_error_inputs

print(f"ops in the registry: {len(OPS)}")
print(f"error inputs: {len(all_error_inputs())}")
