"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018).

    python bench/sbc.py                 # full run: 200 simulations
    python bench/sbc.py --quick         # 40 simulations, shorter chains
    python bench/sbc.py --sims 300 --draws 600
    python bench/sbc.py --collapse      # the collapsed sampler (sbc_collapsed.json)

For a small hierarchical model with correlated effects, ``y ~ x + (1 + x | g)`` (gaussian, 6
groups x 8 rows), each simulation draws every parameter from the prior and a dataset from the
model (``model.simulate``), fits it with NUTS, and records the rank of each true value among
``L`` thinned posterior draws. If simulation, model and sampler agree, every rank is uniform on
``0..L``: rank histograms (``bench/results/sbc_ranks.png``) and per-parameter uniformity tests
(chi-square over ``B`` bins, Kolmogorov-Smirnov on the jittered ranks) go to
``bench/results/sbc.json``.

The priors are given explicitly (``PRIORS``): formulang's default priors are scaled to the
response, so they would depend on each simulated dataset, and SBC's identity (averaging the
posterior over prior-predictive data gives back the prior) only holds for a prior fixed before
the data.

Fitting hundreds of small datasets one by one would be dominated by compilation (tracing
NUTS anew for each dataset), so :func:`fit_data` runs NumPyro's NUTS kernel (the same
``hmc(..., algo="NUTS")`` kernel, step-size and diagonal mass-matrix adaptation that
``MCMC`` uses) vectorised over datasets x chains: each chain adapts on its own, and one
compiled program serves every batch.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results"
FORMULA = "y ~ x + (1 + x | g)"
PRIORS = {"Intercept": "normal(0, 1)", "b": "normal(0, 1)", "sd": "half_normal(1)",
          "sigma": "half_normal(1)", "cor": "lkj(2)"}
GROUPS, ROWS = 6, 8


# ---- fitting many datasets of one model at once -----------------------------------------------

def fit_data(model, datasets: list[dict], *, draws: int, tune: int, chains: int = 2,
             seed: int = 0, target_accept: float = 0.8, max_tree_depth: int = 10,
             batch: int | None = None, collapse: bool = False) -> dict:
    """NUTS on ``model``'s NumPyro model for each data pytree in ``datasets`` (all shaped like
    ``model.data``), vectorised over datasets x chains.

    Returns the sampler sites (``Intercept_c``, ``sd_g``, ...) shaped (datasets, chains, draws,
    ...), plus ``diverging`` and ``num_steps`` per draw. ``batch`` datasets run together (the
    last batch is padded), so one compiled program serves every batch; by default as many as
    put one (dataset, chain) pair on each device, run in parallel. ``collapse=True`` runs
    the collapsed sampler (``model.collapsed`` must be True): NUTS on the collapsed posterior
    of each dataset's sufficient statistics, then the exact conditional draws of the group
    effects, added as the full model's sites (``z_g`` / ``rc_g``), as ``Model.fit`` does.
    """
    from formulang.infer.jax_setup import configure

    configure()
    import jax

    model_fn, datasets = _sampled_model(model, datasets, collapse)
    n = len(datasets)
    devices = jax.local_device_count()
    if batch is None:  # one (dataset, chain) pair per device where the devices allow
        batch = max(1, devices // chains) if devices >= chains else n
    batch = min(batch, n)
    run = _vectorised_nuts(model_fn, datasets[0], draws, tune, chains, target_accept,
                           max_tree_depth, parallel=batch * chains <= devices)
    keys = np.asarray(jax.random.split(jax.random.PRNGKey(seed), n * chains))
    keys = keys.reshape((n, chains) + keys.shape[1:])
    parts = []
    for start in range(0, n, batch):
        idx = [min(i, n - 1) for i in range(start, start + batch)]  # pad with the last one
        per_chain = [datasets[i] for i in idx for _ in range(chains)]
        stacked = jax.tree.map(lambda *xs: np.stack(xs), *per_chain)
        out = run(keys[np.asarray(idx)].reshape((-1,) + keys.shape[2:]), stacked)
        keep = min(batch, n - start)
        parts.append({k: np.asarray(v).reshape((batch, chains) + v.shape[1:])[:keep]
                      for k, v in out.items()})
    sites = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return _with_effects(model, datasets, sites, seed) if collapse else sites


def _sampled_model(model, datasets: list[dict], collapse: bool):
    """The model function NUTS runs and its data per dataset: the full model, or the
    collapsed one on each dataset's sufficient statistics."""
    if not collapse:
        return model.numpyro_model, datasets
    from formulang.lower.collapsed import collapsed_data, make_collapsed_model

    if not model.collapsed:
        raise ValueError(f"the model is not collapsed: {model.collapse_reason}")
    layout = model.collapse_layout
    return (make_collapsed_model(model.plan, layout),
            [collapsed_data(model.plan, d, layout) for d in datasets])


def _with_effects(model, datasets: list[dict], sites: dict, seed: int) -> dict:
    """Exact conditional draws of the group effects for each dataset's collapsed fit."""
    from formulang.infer.collapsed_draws import complete_samples

    stats_keys = ("diverging", "num_steps")
    per_dataset = []
    for i, data in enumerate(datasets):
        mine = {k: v[i] for k, v in sites.items() if k not in stats_keys}
        per_dataset.append(complete_samples(model.plan, model.collapse_layout, data["stats"],
                                            mine, seed + i))
    out = {k: np.stack([d[k] for d in per_dataset]) for k in per_dataset[0]}
    return {**out, **{k: sites[k] for k in stats_keys}}


def _vectorised_nuts(model_fn, template: dict, draws, tune, chains, target_accept,
                     max_tree_depth, parallel: bool = False):
    """One compiled program: NUTS for (dataset, chain) pairs along one axis, vectorised (tracing
    a single vmap is several times cheaper than a vmap of a vmap) or, with ``parallel``, one
    pair per device (``pmap``: no batching rules to trace, so it compiles about 2.5x faster).
    ``template``: one dataset's pytree, for the shapes."""
    import jax
    from numpyro.infer.hmc import hmc
    from numpyro.infer.util import initialize_model

    info = initialize_model(jax.random.PRNGKey(0), model_fn, model_args=(template,),
                            dynamic_args=True)
    init_kernel, sample_kernel = hmc(potential_fn_gen=info.potential_fn, algo="NUTS")
    shapes = jax.tree.map(lambda a: a.shape, info.param_info.z)

    def chain(key, data):
        k_init, k_run = jax.random.split(key)
        # MCMC's default start: uniform(-2, 2) in the unconstrained space
        leaves, tree = jax.tree.flatten(shapes, is_leaf=lambda x: isinstance(x, tuple))
        subkeys = jax.random.split(k_init, len(leaves))
        z = jax.tree.unflatten(tree, [jax.random.uniform(k, s, minval=-2.0, maxval=2.0)
                                      for k, s in zip(subkeys, leaves)])
        state = init_kernel(z, tune, target_accept_prob=target_accept,
                            max_tree_depth=max_tree_depth, model_args=(data,), rng_key=k_run)

        def step(state, _):
            state = sample_kernel(state, model_args=(data,))
            return state, (state.z, state.diverging, state.num_steps)

        _, (zs, diverging, steps) = jax.lax.scan(step, state, None, length=tune + draws)
        zs = jax.tree.map(lambda a: a[tune:], zs)
        sites = jax.vmap(info.postprocess_fn(data))(zs)
        return {**sites, "diverging": diverging[tune:], "num_steps": steps[tune:]}

    return jax.pmap(chain) if parallel else jax.jit(jax.vmap(chain))


def _fit_data(data: dict) -> dict:
    """A model's data pytree as the sampler takes it (the response observed)."""
    out = dict(data)
    if out.get("trials") is not None:
        out["trials"] = np.asarray(np.rint(out["trials"]), dtype=np.int32)
    return out


def with_response(model, y) -> dict:
    """``model.data`` with the response replaced by ``y``."""
    data = _fit_data(model.data)
    data["y"] = np.asarray(y, dtype=float)
    return data


def draws_of(model, sites: dict, i: int) -> dict:
    """User-facing draws (b, sd_<g>, cor_<g>, r_<g>, family parameters) of dataset ``i``, with
    chains and draws flattened into one axis."""
    from formulang.infer.simulate import parameters_from_sites

    mine = {k: v[i] for k, v in sites.items() if k not in ("diverging", "num_steps")}
    values = parameters_from_sites(model.plan, mine)
    return {k: v.reshape((-1,) + v.shape[2:]) for k, v in values.items()}


def scalars(model, values: dict, effects: bool = False) -> dict[str, np.ndarray]:
    """Every scalar parameter as ``name -> array`` (brms-style names: b_x, sd_g__x, ...);
    with ``effects``, also the effects of each term's first level (``r_g[g0,x]``: they check
    the group effects, which the collapsed sampler draws from their exact conditional)."""
    from formulang.lower.sites import flat_parameters, r_name

    plan = model.plan
    out = {}
    for p in flat_parameters(plan):
        value = values[p.variable]
        out[p.name] = value if p.index is None else value[..., p.index]
    for g in plan.groups if effects else ():
        for j, c in enumerate(g.columns):
            out[r_name(g.name, g.levels[0], c)] = values[g.sites.r][..., 0, j]
    return out


# ---- SBC ---------------------------------------------------------------------------------------

def sbc_model(reparam: str = "noncentered", seed: int = 0, collapse: bool = False):
    """The SBC model on a fixed design: 6 groups x 8 rows, x ~ N(0, 1). The response is a
    placeholder (zeros): simulations replace it, and the explicit priors do not look at it.
    ``collapse=True``: the collapsed model (``reparam`` must then be ``"auto"``)."""
    import formulang as fl

    rng = np.random.default_rng(seed)
    design = pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(GROUPS)], ROWS),
                           "x": rng.normal(size=GROUPS * ROWS), "y": 0.0})
    return fl.Model(FORMULA, design, priors=PRIORS, reparam=reparam, collapse=collapse)


def ranks(model, sim, sites: dict, thin_to: int) -> dict[str, np.ndarray]:
    """Per scalar parameter, the rank of each simulation's truth among ``thin_to`` posterior
    draws taken at equal spacing (thinning reduces their autocorrelation)."""
    truths = scalars(model, sim.params, effects=True)
    out = {name: np.zeros(sim.draws, dtype=int) for name in truths}
    for i in range(sim.draws):
        post = scalars(model, draws_of(model, sites, i), effects=True)
        for name, draws in post.items():
            pick = np.linspace(0, len(draws) - 1, thin_to).round().astype(int)
            out[name][i] = int(np.sum(draws[pick] < truths[name][i]))
    return out


def uniformity(r: np.ndarray, thin_to: int, bins: int, seed: int = 0) -> dict:
    """Chi-square over ``bins`` equal bins of the ranks 0..L (L + 1 values, so ``bins``
    should divide L + 1), and Kolmogorov-Smirnov on the ranks jittered to (0, 1)."""
    from scipy import stats

    counts = np.bincount(np.asarray(r) * bins // (thin_to + 1), minlength=bins)
    expected = len(r) / bins
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    u = (np.asarray(r) + np.random.default_rng(seed).uniform(size=len(r))) / (thin_to + 1)
    return {"counts": counts.tolist(), "chi2": chi2, "df": bins - 1,
            "chi2_p": float(stats.chi2.sf(chi2, bins - 1)),
            "ks_p": float(stats.kstest(u, "uniform").pvalue)}


def simulate_and_fit(sims: int, draws: int, tune: int, chains: int = 2, seed: int = 0,
                     batch: int | None = 25, reparam: str = "noncentered",
                     collapse: bool = False):
    """Draw ``sims`` parameter sets and datasets from the prior and fit each: (model, the
    :class:`~formulang.infer.simulate.Simulation`, sampler sites, seconds). ``collapse``:
    fit with the collapsed sampler (``reparam="auto"``) instead of the full model."""
    model = sbc_model("auto" if collapse else reparam, collapse=collapse)
    start = time.perf_counter()
    sim = model.simulate(seed=seed, draws=sims)
    data = [with_response(model, sim.y[i]) for i in range(sims)]
    sites = fit_data(model, data, draws=draws, tune=tune, chains=chains, seed=seed + 1,
                     batch=batch, collapse=collapse)
    return model, sim, sites, time.perf_counter() - start


def run_sbc(sims: int, draws: int, tune: int, chains: int = 2, thin_to: int = 99,
            seed: int = 0, batch: int = 25, reparam: str = "noncentered",
            collapse: bool = False):
    """Ranks of the truths by parameter, divergences per simulation, and seconds taken."""
    model, sim, sites, seconds = simulate_and_fit(sims, draws, tune, chains, seed, batch,
                                                  reparam, collapse)
    r = ranks(model, sim, sites, thin_to)
    divergences = sites["diverging"].reshape(sims, -1).sum(axis=1)
    return r, divergences, seconds, scalars(model, sim.params, effects=False)


def divergences_by_truth(div: np.ndarray, truths: dict) -> dict:
    """Where the divergent simulations sit: the share with a divergence in each quartile of
    each true SD divided by ``sigma / sqrt(ROWS)`` (how strongly 8 rows identify a group's
    effect: large ratios are where a non-centred parameterisation meets its inverted funnel,
    small ones where a centred one meets the funnel)."""
    out = {}
    noise = np.asarray(truths["sigma"]) / np.sqrt(ROWS)
    for name, t in truths.items():
        if not name.startswith("sd_"):
            continue
        ratio = np.asarray(t) / noise
        edges = np.quantile(ratio, [0.25, 0.5, 0.75])
        q = np.searchsorted(edges, ratio)
        out[name] = {"quartile_edges": [round(float(e), 3) for e in edges],
                     "divergent_share": [round(float(np.mean(div[q == k] > 0)), 3)
                                         for k in range(4)]}
    return out


def plot(r: dict, thin_to: int, bins: int, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    names = list(r)
    cols = 3
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    n = len(next(iter(r.values())))
    lo, hi = stats.binom.ppf([0.005, 0.995], n, 1 / bins)  # 99% band per bin if uniform
    for ax, name in zip(axes.flat, names):
        counts = np.bincount(r[name] * bins // (thin_to + 1), minlength=bins)
        ax.axhspan(lo, hi, color="0.85", label="99% band if uniform")
        ax.axhline(n / bins, color="0.5", lw=1)
        ax.bar(np.arange(bins), counts, width=0.9, color="tab:blue")
        p = uniformity(r[name], thin_to, bins)["chi2_p"]
        ax.set_title(f"{name}  (chi2 p = {p:.2f})", fontsize=10)
        ax.set_xlabel(f"rank bin (ranks 0..{thin_to})")
        ax.set_xticks(range(bins))
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sims", type=int, default=None, help="simulations (default 200)")
    ap.add_argument("--draws", type=int, default=None, help="draws per chain (default 500)")
    ap.add_argument("--tune", type=int, default=None, help="warm-up per chain (default 500)")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--thin-to", type=int, default=99, help="L: posterior draws per rank")
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reparam", default="noncentered")
    ap.add_argument("--collapse", action="store_true",
                    help="the collapsed sampler (group effects integrated out, then drawn "
                         "exactly); writes sbc_collapsed.json / sbc_collapsed_ranks.png")
    ap.add_argument("--quick", action="store_true", help="40 simulations, 300 + 250 draws")
    ap.add_argument("--out", help="result stem in bench/results (default sbc or sbc_collapsed)")
    args = ap.parse_args(argv)
    quick = {"sims": 40, "draws": 250, "tune": 300} if args.quick else \
        {"sims": 200, "draws": 500, "tune": 500}
    sims = args.sims or quick["sims"]
    draws, tune = args.draws or quick["draws"], args.tune or quick["tune"]
    r, div, seconds, truths = run_sbc(sims, draws, tune, args.chains, args.thin_to, args.seed,
                              reparam=args.reparam, collapse=args.collapse)
    tests = {name: uniformity(v, args.thin_to, args.bins) for name, v in r.items()}
    RESULTS.mkdir(exist_ok=True)
    out = {
        "model": FORMULA, "priors": PRIORS, "design": f"{GROUPS} groups x {ROWS} rows",
        "sampler": "collapsed" if args.collapse else "full model",
        "reparam": "auto" if args.collapse else args.reparam, "simulations": sims, "chains": args.chains,
        "tune": tune, "draws": draws, "L": args.thin_to, "bins": args.bins, "seed": args.seed,
        "seconds": round(seconds, 1),
        "divergent_simulations": int(np.sum(div > 0)), "divergences": int(np.sum(div)),
        "divergences_by_truth": divergences_by_truth(div, truths),
        "divergences_per_simulation": div.tolist(),
        "truths": {k: np.round(np.asarray(v), 5).tolist() for k, v in truths.items()},
        "parameters": tests, "ranks": {k: v.tolist() for k, v in r.items()},
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0]},
    }
    stem = args.out or ("sbc_collapsed" if args.collapse else "sbc")
    (RESULTS / f"{stem}.json").write_text(json.dumps(out, indent=1))
    plot(r, args.thin_to, args.bins, RESULTS / f"{stem}_ranks.png",
         f"SBC ({out['sampler']}): {FORMULA}, {sims} simulations, L = {args.thin_to}")
    for name, t in tests.items():
        print(f"{name:24s} chi2 p = {t['chi2_p']:.3f}  KS p = {t['ks_p']:.3f}  {t['counts']}")
    print(f"{sims} simulations in {seconds:.0f} s; {out['divergent_simulations']} with "
          f"divergences ({out['divergences']} in all)")
    for name, d in out["divergences_by_truth"].items():
        print(f"share with a divergence by quartile of {name} / (sigma / sqrt({ROWS})) "
              f"(edges {d['quartile_edges']}): {d['divergent_share']}")


if __name__ == "__main__":
    main()
