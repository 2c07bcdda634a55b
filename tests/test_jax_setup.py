"""JAX set-up: how many host devices ``import formulang`` asks for, and that a user's own
choice wins."""

import os
import subprocess
import sys

from formulang.infer.jax_setup import host_devices

PROBE = "import formulang, jax; print(jax.local_device_count())"


def _devices_in_fresh_process(xla_flags: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    env["JAX_PLATFORMS"] = "cpu"
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def test_one_device_per_core_and_at_least_one_per_default_chain():
    cores = len(os.sched_getaffinity(0))
    assert host_devices() == max(cores, 4)


def test_import_formulang_asks_for_the_devices():
    assert _devices_in_fresh_process(None) == host_devices()


def test_a_users_own_device_count_is_kept():
    assert _devices_in_fresh_process("--xla_force_host_platform_device_count=3") == 3
