"""Rows sharded across XLA devices: one chain's likelihood split over several devices (issue 20).

A model that does not collapse evaluates one likelihood term per row at every leapfrog step.
With ``shard_rows`` (:meth:`formulang.Model.fit`), the sampler's per-row arrays (response,
design columns, group codes and values, offsets, weights, trials, censoring codes...) are
placed on a :class:`jax.sharding.NamedSharding` over a device :class:`~jax.sharding.Mesh`, split
along their rows; the parameters stay replicated. ``jit``'s partitioner (GSPMD) then runs each
device's rows on that device and adds the log density and its gradient across devices
(an all-reduce XLA inserts). Nothing here communicates by hand: the same program runs on
several CPU devices, on GPUs, or on the devices of several hosts under ``jax.distributed``.

Chains and shards compose: the devices form a 2-D mesh ``(chain, rows)``. Chains run in
``groups`` side by side, each group on its own ``shards`` devices; 8 devices run 2 chains x 4
shards, or 4 chains x 2 shards; 4 chains on 4 devices with 4 shards run the 4 chains on one
group of 4. The chains are vectorised, their batch split over the ``chain`` axis, so they
advance in lockstep (see :func:`sharded_runner` for why).

The rows are padded to a multiple of ``shards`` with copies of the last row given weight 0,
so every shard has the same shape: a weight-0 row adds exactly 0 to the log density and its
gradient (its log density, finite since it is a real row's, times 0), as k-fold's held-out
rows do (:mod:`formulang.infer.kfold`). A model without weights gets weights of 1 on its own
rows. Only the sampler sees the padded rows; the draws are ordinary arrays, and predictions,
LOO and saving use the model's own rows.

>>> choose_layout(chains=2, shards=4, devices=8)
ShardLayout(shards=4, groups=2)
>>> choose_layout(chains=4, shards=4, devices=4)   # chains vectorised on one group
ShardLayout(shards=4, groups=1)
>>> resolve_shards(True, rows=1000, chains=2, devices=8), resolve_shards(False, 1000, 2, 8)
(4, 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FormulangError
from ..phrasing import option as spelt
from .jax_setup import jit

SHARD_CHOICES = ("auto", True, False)
"""``shard_rows``'s words; a whole number of devices per chain group is accepted too."""
SHARD_WORDS = {"no": False, "auto": "auto", "all": True}
"""``shard_rows`` as text interfaces spell it (``--shard-rows``): these words, or a number."""
AUTO_MIN_ROWS_PER_SHARD = 50_000
"""``"auto"`` shards only on accelerators (GPU, TPU), and only when each shard keeps at
least this many rows, so that the rows' work outweighs an all-reduce at every leapfrog step
(a judgement, not a measurement: no accelerator was available). On CPU ``"auto"`` never
shards: host devices share the machine's cores with the chains, and on this project's
shared 2-core machine sharding gave no reliable gain (``bench/results/shard.json``)."""
CHAIN_AXIS, ROW_AXIS = "chain", "rows"
NOT_ROWS = ("priors", "unit")  # the only entries of a model's data that are not per row


@dataclass(frozen=True)
class ShardLayout:
    """``groups`` chain groups side by side, each on its own ``shards`` devices."""

    shards: int
    groups: int

    @property
    def devices(self) -> int:
        return self.shards * self.groups


def resolve_shards(option, rows: int, chains: int, devices: int,
                   platform: str = "cpu") -> int:
    """The number of devices each chain's rows are split over, for ``shard_rows=option``:
    ``False`` (or 1) none; a number, that many; ``True`` the devices left to each chain when
    every chain has its own (``devices // chains``), or all of them, with the chains
    vectorised, when that is under 2; ``"auto"`` as ``True`` on an accelerator
    (``platform`` not ``"cpu"``) when each shard keeps at least
    :data:`AUTO_MIN_ROWS_PER_SHARD` rows and every chain gets 2 devices or more, else 1.

    >>> resolve_shards("auto", rows=400_000, chains=4, devices=16, platform="gpu")
    4
    >>> resolve_shards("auto", rows=400_000, chains=4, devices=16)   # CPU: never
    1
    >>> resolve_shards("auto", rows=1_000, chains=4, devices=16, platform="gpu")
    1
    >>> resolve_shards(3, rows=10, chains=1, devices=2)
    Traceback (most recent call last):
    formulang.errors.FormulangError: shard_rows=3 asks for 3 devices per chain, but JAX has 2
    """
    if option is False or option is None:
        return 1
    if option is True:
        per_chain = devices // max(chains, 1)
        return per_chain if per_chain >= 2 else devices
    if option == "auto":
        per_chain = devices // max(chains, 1)
        if (platform != "cpu" and per_chain >= 2
                and rows // per_chain >= AUTO_MIN_ROWS_PER_SHARD):
            return per_chain
        return 1
    if isinstance(option, (int, np.integer)) and not isinstance(option, bool):
        shards = int(option)
        if shards < 1:
            raise FormulangError(f"{spelt('shard_rows', shards)}: the number of devices "
                                 "must be at least 1")
        if shards > devices:
            raise FormulangError(f"{spelt('shard_rows', shards)} asks for {shards} devices "
                                 f"per chain, but JAX has {devices}")
        return shards
    raise FormulangError(f"{spelt('shard_rows', option)}: use True, False, 'auto' or a "
                         "number of devices")


def parse_shard_rows(text: str):
    """``--shard-rows`` text as ``shard_rows``: a word of :data:`SHARD_WORDS` or a number.

    >>> parse_shard_rows("4"), parse_shard_rows("all"), parse_shard_rows("no")
    (4, True, False)
    >>> parse_shard_rows("many")
    Traceback (most recent call last):
    formulang.errors.FormulangError: --shard-rows takes a number of devices or one of no, auto, all, not 'many'
    """
    word = str(text).strip().lower()
    if word in SHARD_WORDS:
        return SHARD_WORDS[word]
    if word.isdigit() and int(word) >= 1:
        return int(word)
    raise FormulangError(f"--shard-rows takes a number of devices or one of "
                         f"{', '.join(SHARD_WORDS)}, not {text!r}")


def asks_for_shards(option) -> bool:
    """Whether ``shard_rows=option`` insists on shards (``True`` or a number above 1), as
    opposed to none or ``"auto"``'s choice.

    >>> [asks_for_shards(o) for o in (True, 2, 1, False, "auto")]
    [True, True, False, False, False]
    """
    if isinstance(option, str):
        return False
    return option is True or (not isinstance(option, bool) and option is not None
                              and int(option) > 1)


def shards_for(option, data: dict, chains: int, collapsed: bool = False) -> int:
    """:func:`resolve_shards` for a model's sampler ``data`` on the devices JAX has (JAX set
    up first, :func:`~formulang.infer.jax_setup.configure`). A collapsed model samples from
    sufficient statistics, with no rows left to split: ``"auto"`` gives 1 there, and asking
    for shards is an error that says so."""
    from .jax_setup import configure

    if collapsed:
        if not asks_for_shards(option):
            return 1
        raise FormulangError(f"{spelt('shard_rows', option)}: this model is collapsed (its group "
                             "effects, or one crossed factor's, integrated out exactly), so "
                             "NUTS runs on sufficient "
                             "statistics, not on rows, and there are no rows to shard; "
                             "collapse=False samples every row, and shards them")
    configure()
    import jax

    return resolve_shards(option, row_count(data), chains, device_total(),
                          jax.default_backend())


def choose_layout(chains: int, shards: int, devices: int) -> ShardLayout:
    """The most chain groups (a divisor of ``chains``) that fit beside each other on
    ``devices`` devices of ``shards`` each."""
    groups = max(g for g in range(1, chains + 1) if chains % g == 0 and g * shards <= devices)
    return ShardLayout(shards, groups)


def device_total() -> int:
    """The devices a mesh may span: this host's, or every host's under ``jax.distributed``."""
    import jax

    return jax.device_count()


def make_mesh(layout: ShardLayout):
    """The ``(chain, rows)`` mesh over the first ``layout.devices`` devices (of every host
    under ``jax.distributed``)."""
    import jax
    from jax.sharding import Mesh

    devices = np.array(jax.devices()[:layout.devices]).reshape(layout.groups, layout.shards)
    return Mesh(devices, (CHAIN_AXIS, ROW_AXIS))


def row_count(data: dict) -> int:
    """The rows of a model's data (its response's length)."""
    return int(np.shape(data["y"])[0])


def pad_rows(data: dict, shards: int) -> dict:
    """``data`` with every per-row array padded to a multiple of ``shards`` rows by copies
    of the last row, and ``weights`` 0 on the padding (1, or the row's own weight, elsewhere).

    >>> d = pad_rows({"y": np.array([1., 0., 1.]), "X": np.ones((3, 2)), "priors": {}}, 2)
    >>> d["y"], d["weights"], d["X"].shape
    (array([1., 0., 1., 1.]), array([1., 1., 1., 0.]), (4, 2))
    """
    import jax

    n = row_count(data)
    padded = -(-n // shards) * shards
    rows = {k: v for k, v in data.items() if k not in NOT_ROWS}
    weights = rows.get("weights")
    rows["weights"] = np.ones(n) if weights is None else np.asarray(weights, dtype=float)

    def pad(x):
        x = np.asarray(x)
        if x.ndim == 0 or x.shape[0] != n:
            raise FormulangError(f"shard_rows: a data array shaped {x.shape} is not one "
                                 f"value per row ({n} rows); this model cannot be sharded")
        widths = [(0, padded - n)] + [(0, 0)] * (x.ndim - 1)
        return np.pad(x, widths, mode="edge")

    out = jax.tree.map(pad, rows)
    out["weights"][n:] = 0.0
    out.update({k: data[k] for k in NOT_ROWS if k in data})
    return out


def put(tree, mesh, axis: str | None = None):
    """Every array of ``tree`` as a global array on ``mesh``, split along ``axis`` (its
    leading dimension), or replicated (``None``). Each process supplies its own devices'
    pieces from its copy of the whole array (``make_array_from_callback``), which is what
    a mesh over several hosts needs."""
    import jax
    from jax.sharding import NamedSharding, PartitionSpec

    sharding = NamedSharding(mesh, PartitionSpec(axis) if axis else PartitionSpec())

    def one(x):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    return jax.tree.map(one, tree)


def place(data: dict, mesh) -> dict:
    """``data`` (padded) on ``mesh``: per-row arrays split along the ``rows`` axis, the
    rest (priors, the unit) replicated."""
    out = {k: put(v, mesh, ROW_AXIS) for k, v in data.items() if k not in NOT_ROWS}
    out.update({k: put(data[k], mesh) for k in NOT_ROWS if k in data})
    return out


def fetch(x) -> np.ndarray:
    """``x`` as a NumPy array in this process: as it is where this process holds all of it,
    gathered from the other hosts' devices where it does not (``jax.distributed``)."""
    if getattr(x, "is_fully_addressable", True):
        return np.asarray(x)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def sharded_runner(one_chain, mesh):
    """``(keys, data, inverse_mass) -> draws``, with the keys split along the mesh's ``chain``
    axis and the data as :func:`place` left them: the chains vectorised, their batch split
    over the ``chain`` axis (``vmap``'s ``spmd_axis_name``), the rows over the ``rows`` axis,
    both by ``jit``'s partitioner.

    Not ``shard_map`` over the chain axis (each group its own loop, as one chain per device
    runs): with the rows left to the partitioner inside it, the partitioner all-gathered every
    row of the group effects' gradient (the scatter-add that is the gradient of ``r[codes]``)
    at each leapfrog step, instead of adding each shard's and all-reducing the sums (seen in
    the compiled program; plain ``jit`` does the latter). The cost: the chains advance in
    lockstep, as vectorised chains always do."""
    import jax

    return jit(jax.vmap(one_chain, in_axes=(0, None, None), spmd_axis_name=CHAIN_AXIS))


def potential_and_gradient(model_fn):
    """``jit``'d ``(z, data) -> (potential energy, its gradient)``: minus the log density of
    ``model_fn(data)`` at the unconstrained sites ``z``, as NUTS evaluates it at each leapfrog
    step; ``data`` unsharded, or as :func:`place` left it (the test and the benchmark compare
    the two)."""
    import jax
    from numpyro.infer.util import potential_energy

    def potential(z, data):
        return potential_energy(model_fn, (data,), {}, z)

    return jit(jax.value_and_grad(potential))


__all__ = ["AUTO_MIN_ROWS_PER_SHARD", "CHAIN_AXIS", "NOT_ROWS", "ROW_AXIS", "SHARD_CHOICES",
           "SHARD_WORDS",
           "ShardLayout", "asks_for_shards", "choose_layout", "device_total", "fetch",
           "shards_for", "make_mesh", "pad_rows", "parse_shard_rows", "place", "potential_and_gradient", "put",
           "resolve_shards",
           "row_count", "sharded_runner"]
