"""Suite-wide settings.

The suite compiles its NUTS programs in memory, without JAX's persistent compilation cache:
in one long test process, JAX's executable serialiser crashed (a segmentation fault in
``executable.serialize`` / ``deserialize_executable``) three times at random points, twice
reading and once writing an entry, while the same tests pass alone. The cache itself is
tested in fresh processes (``tests/test_jax_setup.py``), which set the variable themselves.
"""

import os

os.environ.setdefault("FORMULANG_COMPILATION_CACHE", "0")
