"""The names of smooth terms' sites and parameters, as brms names them (the smooth half of
:mod:`formulang.lower.sites`, the one owner of names; tests/lower/test_sites.py knows both).

A penalised smooth ``s(times)`` (stem ``stimes``, :func:`formulang.data.smooths.smooth_label`):
``sds_stimes_1`` its SD, ``zs_stimes_1`` its standardised coefficients (sampled),
``s_stimes_1`` its coefficients ``sds * zs`` (reported, brms's ``s_stimes_1[1]``...); its
unpenalised columns are population-level coefficients (``b_stimes_1``; brms's ``bs_stimes_1``).
An approximate Gaussian process ``gp(x)`` (stem ``gpx``): ``sdgp_gpx``, ``lscale_gpx``,
``zgp_gpx``, all sampled and reported. A tensor-product smooth ``t2(x, z)`` (stem ``t2xz``) has
a penalised block per penalty (three), each with its SD: sampled as the vectors ``sds_t2xz``
(one per block) and ``zs_t2xz`` (every block's, in order), reported as brms's
``sds_t2xz_1``... and ``s_t2xz_1``...; its unpenalised columns ``bs_t2xz_1``...

>>> s = SmoothSites("stimes", "s")
>>> s.sd, s.z, s.coefficients, s.prior_key("sds"), s.flat("s_stimes_1", 0)
('sds_stimes_1', 'zs_stimes_1', 's_stimes_1', 'sds[stimes]', 's_stimes_1[1]')
>>> g = SmoothSites("gpx", "gp")
>>> g.sd, g.lscale, g.z, g.coefficients
('sdgp_gpx', 'lscale_gpx', 'zgp_gpx', None)
>>> t = SmoothSites("t2xz", "t2", 3)
>>> t.sd, t.z, t.scalars(), t.vectors()
('sds_t2xz', 'zs_t2xz', ('sds_t2xz_1', 'sds_t2xz_2', 'sds_t2xz_3'), ('s_t2xz_1', 's_t2xz_2', 's_t2xz_3'))

In a family parameter's formula (``sigma ~ s(x)``) brms puts the parameter's name after the
class: ``sds_sigma_sx_1``, ``s_sigma_sx_1[1]``, ``bs_sigma_sx_1``, ``sdgp_sigma_gpx``.

>>> d = SmoothSites("sx", "s", dpar="sigma")
>>> d.sd, d.z, d.coefficients, d.prior_key("sds")
('sds_sigma_sx_1', 'zs_sigma_sx_1', 's_sigma_sx_1', 'sds_sigma[sx]')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SmoothSites:
    """The names of one smooth term (``label`` its stem, ``kind`` ``"s"``, ``"t2"`` or ``"gp"``;
    ``blocks`` its penalised blocks, each with an SD: a t2's several; ``dpar`` the family
    parameter whose formula it is in, ``""`` the response's)."""

    label: str
    kind: str
    blocks: int = 1
    dpar: str = ""
    exact: bool = False  # an exact GP (gp(x) without k): its rows index its unique values

    @property
    def stem(self) -> str:
        """Its label, after its family parameter's name in a sub-formula (``sigma_sx``)."""
        return f"{self.dpar}_{self.label}" if self.dpar else self.label

    @property
    def sd(self) -> str:
        """The site of its SD (a t2's: a vector, one per block)."""
        if self.kind == "t2":
            return f"sds_{self.stem}"
        return f"sds_{self.stem}_1" if self.kind == "s" else f"sdgp_{self.stem}"

    @property
    def z(self) -> str:
        if self.kind == "t2":
            return f"zs_{self.stem}"
        return f"zs_{self.stem}_1" if self.kind == "s" else f"zgp_{self.stem}"

    @property
    def block_sds(self) -> tuple[str, ...]:
        """Its SDs as reported, one per block: brms's ``sds_t2xz_1``, ``sds_t2xz_2``..."""
        if self.kind == "t2":
            return tuple(f"sds_{self.stem}_{i + 1}" for i in range(self.blocks))
        return (self.sd,)

    @property
    def block_coefficients(self) -> tuple[str, ...]:
        """Its reported coefficient vectors, one per block (``s_t2xz_1``...; none for a GP)."""
        if self.kind == "t2":
            return tuple(f"s_{self.stem}_{i + 1}" for i in range(self.blocks))
        return (self.coefficients,) if self.coefficients else ()

    @property
    def lscale(self) -> str | None:
        return f"lscale_{self.stem}" if self.kind == "gp" else None

    @property
    def coefficients(self) -> str | None:
        """The coefficients ``sds * zs``: reported for an ``s()`` (``s_sx_1``); a t2's, every
        block's in order (``s_t2xz``), are reported block by block (:attr:`block_coefficients`)
        and named so only in generated code and the graph; a GP reports its ``zgp``, as brms."""
        if self.kind == "gp":
            return None
        return f"s_{self.stem}_1" if self.kind == "s" else f"s_{self.stem}"

    @property
    def basis(self) -> str:
        """Its penalised basis's name in generated code (brms's standata: ``Zs``, ``Xgp``):
        ``Zs_sx``, ``Zs_sigma_sx``, ``Xgp_gpx``; of an exact GP, each row's index among its
        unique values, ``Jgp_gpx`` (as brms's ``Jgp``)."""
        if self.exact:
            return f"Jgp_{self.stem}"
        return f"Xgp_{self.stem}" if self.kind == "gp" else f"Zs_{self.stem}"

    @property
    def unique_values(self) -> str:
        """An exact GP's scaled unique values in generated code (brms's ``Xgp``)."""
        return f"Xgp_{self.stem}"

    @property
    def gp_values(self) -> str:
        """An exact GP's values at its unique values in generated code (brms's ``gp_pred``)."""
        return f"gp_pred_{self.stem}"

    @property
    def sd_class(self) -> str:
        """The prior class of its SD (brms's ``sds``, ``sdgp``)."""
        return "sdgp" if self.kind == "gp" else "sds"

    def prior_key(self, cls: str) -> str:
        return f"{cls}_{self.dpar}[{self.label}]" if self.dpar else f"{cls}[{self.label}]"

    @staticmethod
    def flat(variable: str, j: int) -> str:
        """brms's flat name of entry ``j`` (0-based) of a vector: ``s_stimes_1[1]``."""
        return f"{variable}[{j + 1}]"

    def scalars(self) -> tuple[str, ...]:
        """Its scalar parameters, in brms's order."""
        return self.block_sds + ((self.lscale,) if self.lscale else ())

    def vectors(self) -> tuple[str, ...]:
        """Its vector parameters as reported: the coefficients (``s_``), or ``zgp_``."""
        return self.block_coefficients or (self.z,)


def smooth_b_names(plan, dpar: str = "") -> dict[str, str]:
    """The flat names of the smooths' unpenalised coefficients in formula ``dpar``, by column:
    brms's ``bs_stimes_1`` (their column, ``stimes_1``, is a population-level one),
    ``bs_sigma_sx_1`` in ``sigma``'s formula."""
    infix = f"{dpar}_" if dpar else ""
    return {col: f"bs_{infix}{col}" for sm in getattr(plan, "smooths", ())
            if getattr(sm, "dpar", "") == dpar for col in sm.fixed}


def smooth_dim(variable: str) -> str:
    """The ArviZ dimension of a smooth's vector parameter (its entries 1..k, as brms)."""
    return f"{variable}__index"


def smooth_variables(plan, samples: dict) -> tuple[dict, dict, dict]:
    """(variables, dims, coords) of the smooth terms' parameters in ``samples``."""
    variables, dims, coords = {}, {}, {}
    reported = {**samples, **smooth_reported(plan, samples)}
    for s, sm in zip(smooth_sites(plan), getattr(plan, "smooths", ())):
        for name in s.scalars():
            if name in reported:
                variables[name] = reported[name]
        for name, size in zip(s.vectors(), vector_sizes(sm)):
            if name in reported:
                variables[name] = reported[name]
                dims[name] = [smooth_dim(name)]
                coords[smooth_dim(name)] = [str(j + 1) for j in range(size)]
    return variables, dims, coords


def vector_sizes(sm) -> tuple[int, ...]:
    """The lengths of a smooth plan's reported vectors (a t2's blocks; else its ``k``)."""
    return tuple(getattr(sm, "blocks", ())) or (sm.k,)


def smooth_sites(plan) -> tuple[SmoothSites, ...]:
    return tuple(SmoothSites(sm.label, sm.kind, len(vector_sizes(sm)), getattr(sm, "dpar", ""))
                 for sm in getattr(plan, "smooths", ()))


def smooth_reported(plan, samples: dict) -> dict:
    """``s_<label>_1 = sds * zs`` of each penalised smooth whose sites are in ``samples`` (a
    t2's ``sds_<label>_i`` and ``s_<label>_i``, block by block)."""
    out = {}
    for s, sm in zip(smooth_sites(plan), getattr(plan, "smooths", ())):
        if not (s.block_coefficients and s.sd in samples and s.z in samples):
            continue
        sd, z = np.asarray(samples[s.sd]), np.asarray(samples[s.z])
        if s.kind != "t2":
            out[s.coefficients] = sd[..., None] * z
            continue
        ends = np.cumsum((0,) + vector_sizes(sm))
        for i, (sd_name, coef) in enumerate(zip(s.block_sds, s.block_coefficients)):
            out[sd_name] = sd[..., i]
            out[coef] = sd[..., i, None] * z[..., ends[i]:ends[i + 1]]
    return out


def smooth_flat(plan) -> list[tuple[str, str, int | None]]:
    """``(flat name, variable, index)`` of every smooth scalar of the summary, brms's names."""
    out = []
    for s in smooth_sites(plan):
        out += [(name, name, None) for name in s.scalars()]
    for s, sm in zip(smooth_sites(plan), getattr(plan, "smooths", ())):
        out += [(s.flat(v, j), v, j) for v, size in zip(s.vectors(), vector_sizes(sm))
                for j in range(size)]
    return out


def smooth_parameters(plan) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(name, label, entries)`` of each smooth parameter as reported: its scalars, then its
    vectors with their entries ``1..size``."""
    out = []
    for s, sm in zip(smooth_sites(plan), getattr(plan, "smooths", ())):
        out += [(name, s.label, ()) for name in s.scalars()]
        out += [(name, s.label, tuple(str(j + 1) for j in range(size)))
                for name, size in zip(s.vectors(), vector_sizes(sm))]
    return out
