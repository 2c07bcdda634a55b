"""The names of smooth terms' sites and parameters, as brms names them (the smooth half of
:mod:`formulang.lower.sites`, the one owner of names; tests/lower/test_sites.py knows both).

A penalised smooth ``s(times)`` (stem ``stimes``, :func:`formulang.data.smooths.smooth_label`):
``sds_stimes_1`` its SD, ``zs_stimes_1`` its standardised coefficients (sampled),
``s_stimes_1`` its coefficients ``sds * zs`` (reported, brms's ``s_stimes_1[1]``...); its
unpenalised columns are population-level coefficients (``b_stimes_1``; brms's ``bs_stimes_1``).
An approximate Gaussian process ``gp(x)`` (stem ``gpx``): ``sdgp_gpx``, ``lscale_gpx``,
``zgp_gpx``, all sampled and reported.

>>> s = SmoothSites("stimes", "s")
>>> s.sd, s.z, s.coefficients, s.prior_key("sds"), s.flat("s_stimes_1", 0)
('sds_stimes_1', 'zs_stimes_1', 's_stimes_1', 'sds[stimes]', 's_stimes_1[1]')
>>> g = SmoothSites("gpx", "gp")
>>> g.sd, g.lscale, g.z, g.coefficients
('sdgp_gpx', 'lscale_gpx', 'zgp_gpx', None)

In a family parameter's formula (``sigma ~ s(x)``) brms puts the parameter's name after the
class: ``sds_sigma_sx_1``, ``s_sigma_sx_1[1]``, ``bs_sigma_sx_1``, ``sdgp_sigma_gpx``.

>>> d = SmoothSites("sx", "s", "sigma")
>>> d.sd, d.z, d.coefficients, d.prior_key("sds")
('sds_sigma_sx_1', 'zs_sigma_sx_1', 's_sigma_sx_1', 'sds_sigma[sx]')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SmoothSites:
    """The names of one smooth term (``label`` its stem, ``kind`` ``"s"`` or ``"gp"``,
    ``dpar`` the family parameter whose formula it is in, ``""`` the response's)."""

    label: str
    kind: str
    dpar: str = ""

    @property
    def stem(self) -> str:
        """Its label, after its family parameter's name in a sub-formula (``sigma_sx``)."""
        return f"{self.dpar}_{self.label}" if self.dpar else self.label

    @property
    def sd(self) -> str:
        return f"sds_{self.stem}_1" if self.kind == "s" else f"sdgp_{self.stem}"

    @property
    def z(self) -> str:
        return f"zs_{self.stem}_1" if self.kind == "s" else f"zgp_{self.stem}"

    @property
    def lscale(self) -> str | None:
        return f"lscale_{self.stem}" if self.kind == "gp" else None

    @property
    def coefficients(self) -> str | None:
        """The reported coefficients ``sds * zs`` (a GP reports its ``zgp``, as brms)."""
        return f"s_{self.stem}_1" if self.kind == "s" else None

    @property
    def basis(self) -> str:
        """Its penalised basis's name in generated code (brms's standata: ``Zs``, ``Xgp``):
        ``Zs_sx``, ``Zs_sigma_sx``, ``Xgp_gpx``."""
        return f"Zs_{self.stem}" if self.kind == "s" else f"Xgp_{self.stem}"

    @property
    def sd_class(self) -> str:
        """The prior class of its SD (brms's ``sds``, ``sdgp``)."""
        return "sds" if self.kind == "s" else "sdgp"

    def prior_key(self, cls: str) -> str:
        return f"{cls}_{self.dpar}[{self.label}]" if self.dpar else f"{cls}[{self.label}]"

    @staticmethod
    def flat(variable: str, j: int) -> str:
        """brms's flat name of entry ``j`` (0-based) of a vector: ``s_stimes_1[1]``."""
        return f"{variable}[{j + 1}]"

    def scalars(self) -> tuple[str, ...]:
        """Its scalar parameters, in brms's order."""
        return (self.sd,) + ((self.lscale,) if self.lscale else ())

    def vectors(self) -> tuple[str, ...]:
        """Its vector parameters as reported: the coefficients (``s_``), or ``zgp_``."""
        return (self.coefficients,) if self.coefficients else (self.z,)


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
        for name in s.vectors():
            if name in reported:
                variables[name] = reported[name]
                dims[name] = [smooth_dim(name)]
                coords[smooth_dim(name)] = [str(j + 1) for j in range(sm.k)]
    return variables, dims, coords


def smooth_sites(plan) -> tuple[SmoothSites, ...]:
    return tuple(SmoothSites(sm.label, sm.kind, getattr(sm, "dpar", ""))
                 for sm in getattr(plan, "smooths", ()))


def smooth_reported(plan, samples: dict) -> dict:
    """``s_<label>_1 = sds * zs`` of each penalised smooth whose sites are in ``samples``."""
    out = {}
    for s in smooth_sites(plan):
        if s.coefficients and s.sd in samples and s.z in samples:
            out[s.coefficients] = np.asarray(samples[s.sd])[..., None] * np.asarray(samples[s.z])
    return out


def smooth_flat(plan) -> list[tuple[str, str, int | None]]:
    """``(flat name, variable, index)`` of every smooth scalar of the summary, brms's names."""
    out = []
    for s in smooth_sites(plan):
        out += [(name, name, None) for name in s.scalars()]
    for s, sm in zip(smooth_sites(plan), getattr(plan, "smooths", ())):
        out += [(s.flat(v, j), v, j) for v in s.vectors() for j in range(sm.k)]
    return out
