"""Suite-wide settings.

The suite compiles its NUTS programs in memory, without JAX's persistent compilation cache: CI
runs on a fresh machine, where the cache would only be written, never read. The cache itself
is tested in fresh processes (``tests/test_jax_setup.py``), which set the variable themselves.

After each test module, JAX's caches are cleared. Compiled XLA code holds memory mappings, and
a process may have at most ``vm.max_map_count`` (65,530 by default): in one long test process
the count reached it and XLA crashed while compiling (segmentation faults, once blamed on the
persistent cache). formulang's own leaks are fixed and guarded: ``jax.pmap`` kept every
sampler's program (~1,000 mappings each; ``infer/nuts.py::one_chain_per_device``,
``tests/test_nuts.py::test_a_dropped_sampler_releases_its_compiled_program``), and eager
``Predictive`` calls filled JAX's primitive cache (~400 per model; now jitted). What remains
is JAX's own caching of eagerly run operations (~50 mappings per model predicted), harmless
in a session and not across the ~2,500 tests of one process.
"""

import gc
import os
import sys

import pytest

os.environ.setdefault("FORMULANG_COMPILATION_CACHE", "0")


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    yield
    if "jax" in sys.modules:
        import jax

        gc.collect()  # the module's fits and models, so their programs can go
        jax.clear_caches()
