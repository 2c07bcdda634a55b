"""Suite-wide settings.

The suite compiles its NUTS programs in memory, without JAX's persistent compilation cache: CI
runs on a fresh machine, where the cache would only be written, never read. The cache itself
is tested in fresh processes (``tests/test_jax_setup.py``), which set the variable themselves.

(The crashes once blamed on the cache, segmentation faults in ``executable.serialize`` and
in XLA's compiler late in a long test process, were the process running out of memory
mappings: ``jax.pmap`` kept every sampler's compiled code alive, ~1,000 mappings each, up to
the kernel's 65,530. ``formulang.infer.nuts.one_chain_per_device`` fixed it;
``tests/test_nuts.py::test_a_dropped_sampler_releases_its_compiled_program`` guards it.)
"""

import os

os.environ.setdefault("FORMULANG_COMPILATION_CACHE", "0")
