"""The type hints of the public API (private module; the names are documented where used)."""

from typing import Any

# What the losses take and return, on every backend: a backend tensor, a NumPy
# array or a Keras variable. Keras has no public type for all three.
Tensor = Any
