"""Benchmark (issue 20): crossed random effects, Penicillin's intercept ridge, and a simulated
subjects x items design against a hand-written NumPyro model.

    python bench/bench_crossed.py [--seeds 0,1,2,3,4] [--label after] [--markdown]
    python bench/bench_crossed.py --design subjects_items [--families gaussian,bernoulli]

``diameter ~ 1 + (1 | plate) + (1 | sample)`` on Penicillin (144 rows, 24 plates x 6 samples,
crossed), every default of ``Model`` and ``fit`` (4 chains x (1000 warm-up + 1000 draws)), one
fit per seed in one process (the first fit compiles: its seconds include it). Per seed: min
bulk ESS and max R-hat over *every* reported parameter (intercept, both SDs, sigma, all 30
effects), divergences, leapfrog steps per draw, ESS per 1,000 sampling gradients (the
sampler's work, which a busy machine does not change) and the fit's wall seconds.

Target (issue 20): R-hat < 1.01 and bulk ESS >= 400 for every parameter on seeds 0-4.

Rows merge into ``bench/results/crossed.json`` under ``--label`` (one row per label and seed);
``--markdown`` prints the table of every label there. The "before" rows were made by this
script with ``PYTHONPATH`` at the commit before the dense mass-matrix block (ee7e1a5, a
diagonal mass matrix): ``git archive ee7e1a5 | tar -x -C /tmp/base`` and
``PYTHONPATH=/tmp/base python bench/bench_crossed.py --label "before (ee7e1a5)"``.

``--design subjects_items``: 60 subjects x 40 items x 2 conditions (4,800 rows, every subject
sees every item in both), ``y ~ cond + (1 + cond | subj) + (1 + cond | item)``, Gaussian and
Bernoulli (:func:`simulate`). formulang at its defaults against the hand-written NumPyro model
of :func:`handwritten` (the same priors, computed by formulang's default rules; both terms
non-centred with an LKJ Cholesky factor, as one writes it by hand; NumPyro's default start and
identity mass matrix; 4 chains x (1000 + 1000) on one device each), in one process: per side
a first fit (compiles; an empty compilation cache) and one compiled rerun. Figures: min bulk ESS and max R-hat over the
population coefficients, SDs, correlations and sigma (as ``bench_paired.py``); wall seconds;
ESS per wall second and per 1,000 sampling gradients; the ratios formulang / hand-written.
Target (issue 20): >= 10x the hand-written ESS per wall second. Results under
``subjects_items`` in ``crossed.json``.

``--design insteval``: ``y ~ service + (1 | s) + (1 | d) + (1 | dept:service)`` on lme4's
InstEval (``../shared/data/InstEval.csv``, 73,421 rows; ``service`` a factor), every default
(4 chains x (1000 + 1000); crossed: ``s``'s 2,972 effects integrated out, ``lower/
collapsed_crossed.py``), or ``--chains``, ``--draws``, ``--tune`` as given (on 2 cores, 4
chains run vectorised in lockstep, 2 run one per core). The fit runs in a fresh child
process with an empty compilation cache (``FORMULANG_CACHE_DIR`` a new temporary folder): its whole-process wall seconds (import, read,
build, compile, sample, draw the effects), CPU seconds and peak resident memory (``getrusage``
of the child), then min bulk ESS and max R-hat over the intercept, service, the three SDs and
sigma, and each one's distance from lme4's REML value in posterior SDs. ``--collapse False``
runs the full model (every effect sampled) the same way. Target (issue 20): <= 45 s, <= 1 GB,
R-hat < 1.01, bulk ESS >= 400, every value within 2 posterior SD of lme4's. Results under
``insteval`` in ``crossed.json`` by ``--label``.

``--design verbagg``: lme4's VerbAgg, Bernoulli ``r2 ~ (Anger + Gender + btype + situ)^2 + (1 |
id) + (1 | item)`` (7,584 rows, 316 x 24 crossed), every default, in a fresh process with an
empty compilation cache: a first fit (compiles) and a compiled rerun, min bulk ESS and max
R-hat over every parameter but the effects, ESS per wall second. Target (issue 20): 2x the
ESS per second the issue measured (41 s, min ESS 568). "before" rows: ``PYTHONPATH`` at an
earlier commit (``git archive``, as for Penicillin). Results under ``verbagg``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "crossed.json"
FORMULA = "diameter ~ 1 + (1 | plate) + (1 | sample)"
TARGET_ESS, TARGET_RHAT = 400.0, 1.01


def figures(fit) -> dict:
    """min bulk ESS / max R-hat over every element of every reported parameter."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        import arviz as az
    post = fit.idata.posterior
    ess = az.ess(post, method="bulk")
    rhat = az.rhat(post)
    min_ess = min(float(ess[k].min()) for k in ess.data_vars)
    max_rhat = max(float(rhat[k].max()) for k in rhat.data_vars)
    steps = np.asarray(fit.stats["num_steps"])
    return {"min_bulk_ess": min_ess, "max_rhat": max_rhat,
            "divergences": int(np.sum(fit.stats["diverging"])),
            "steps_per_draw": float(steps.mean()),
            "ess_per_1k_gradients": 1000.0 * min_ess / float(steps.sum())}


def penicillin(seeds: list[int]) -> list[dict]:
    import formulang as fl

    model = fl.Model(FORMULA, fl.datasets.load("Penicillin"))
    rows = []
    for seed in seeds:
        start = time.perf_counter()
        fit = model.fit(seed=seed, progress=False)
        seconds = time.perf_counter() - start
        row = {"seed": seed, "seconds": seconds, **figures(fit)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def markdown(results: dict) -> str:
    lines = ["| run | seed | min bulk ESS | max R-hat | divergences | steps/draw | "
             "ESS / 1k gradients | wall s |", "|---|---|---|---|---|---|---|---|"]
    for label, rows in results.get("penicillin", {}).items():
        for r in rows:
            lines.append(f"| {label} | {r['seed']} | {r['min_bulk_ess']:.0f} | "
                         f"{r['max_rhat']:.3f} | {r['divergences']} | {r['steps_per_draw']:.1f}"
                         f" | {r['ess_per_1k_gradients']:.1f} | {r['seconds']:.1f} |")
    return "\n".join(lines)


# ---- simulated subjects x items --------------------------------------------------------------
SI_FORMULA = "y ~ cond + (1 + cond | subj) + (1 + cond | item)"
SI_NAMES = ("b", "sd_subj", "sd_item", "cor_subj", "cor_item", "sigma")


def simulate(family: str, seed: int = 20):
    """60 subjects x 40 items x 2 conditions; correlated subject and item effects on the
    intercept and the condition (sds 0.6/0.3 and 0.4/0.2, correlations 0.3 and -0.2),
    intercept 0.2, condition effect 0.4; Gaussian noise sd 1, or Bernoulli on the logit."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    subj, item, cond = (a.ravel() for a in np.meshgrid(np.arange(60), np.arange(40),
                                                         np.arange(2), indexing="ij"))

    def effects(levels, sds, rho):
        cov = np.array([[sds[0] ** 2, rho * sds[0] * sds[1]], [rho * sds[0] * sds[1], sds[1] ** 2]])
        return rng.multivariate_normal(np.zeros(2), cov, size=levels)

    rs, ri = effects(60, (0.6, 0.3), 0.3), effects(40, (0.4, 0.2), -0.2)
    eta = 0.2 + 0.4 * cond + rs[subj, 0] + rs[subj, 1] * cond + ri[item, 0] + ri[item, 1] * cond
    y = (eta + rng.normal(0.0, 1.0, len(eta)) if family == "gaussian"
         else (rng.random(len(eta)) < 1.0 / (1.0 + np.exp(-eta))).astype(float))
    return pd.DataFrame({"y": y, "cond": np.where(cond == 1, "B", "A"),
                         "subj": [f"s{i:02d}" for i in subj], "item": [f"i{i:02d}" for i in item]})


def _r4(value: float) -> float:  # formulang rounds its default priors' scales to 4 digits
    return float(f"{float(value):.4g}")


def handwritten(frame, family: str, chains: int = 4, draws: int = 1000):
    """``fit(seed) -> (samples {name: (chains, draws, ...)}, diverging, num_steps)``: the
    model written by hand in NumPyro, compiled on its first call. Priors as formulang's
    defaults: intercept student_t(3, m, 2.5 s) on the centred predictor, condition effect
    normal(0, 2.5 s / sd(x)), SDs half_student_t(3, 2.5 s / sd(column)), LKJ(2), sigma
    half_student_t(3, 2.5 s); m, s = mean and sd of y (Gaussian), logit(mean y) and 1
    (Bernoulli)."""
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    import pandas as pd
    from numpyro.infer import NUTS

    y = frame["y"].to_numpy(float)
    x = (frame["cond"] == "B").to_numpy(float)
    x_mean = float(x.mean())
    xc = x - x_mean
    gaussian = family == "gaussian"
    if gaussian:
        m, s = float(np.mean(y)), float(np.std(y, ddof=1))
    else:
        p = float(np.mean(y))
        m, s = float(np.log(p / (1 - p))), 1.0
    a_prior = (3.0, _r4(m), _r4(2.5 * s))
    b_scale, sd_scale = _r4(2.5 * s / np.std(x, ddof=1)), jnp.array(
        [_r4(2.5 * s), _r4(2.5 * s / np.std(x, ddof=1))])
    codes = [jnp.asarray(pd.factorize(frame[g], sort=True)[0]) for g in ("subj", "item")]
    sizes = [int(frame[g].nunique()) for g in ("subj", "item")]

    def half_t(scale):
        return dist.FoldedDistribution(dist.StudentT(3.0, 0.0, scale))

    def model(xc, x, codes, y):
        a = numpyro.sample("a", dist.StudentT(*a_prior))
        b = numpyro.sample("b", dist.Normal(0.0, b_scale))
        eta = a + b * xc
        for name, c, J in zip(("subj", "item"), codes, sizes):
            tau = numpyro.sample(f"sd_{name}", half_t(sd_scale).to_event(1))
            L = numpyro.sample(f"L_{name}", dist.LKJCholesky(2, 2.0))
            z = numpyro.sample(f"z_{name}", dist.Normal(0.0, 1.0).expand([J, 2]).to_event(2))
            r = z @ (tau[:, None] * L).T
            numpyro.deterministic(f"cor_{name}", L[1, 0])
            eta = eta + r[c, 0] + r[c, 1] * x
        numpyro.deterministic("intercept", a - b * x_mean)
        if gaussian:
            sigma = numpyro.sample("sigma", half_t(_r4(2.5 * s)))
            numpyro.sample("y", dist.Normal(eta, sigma), obs=y)
        else:
            numpyro.sample("y", dist.BernoulliLogits(eta), obs=y)

    data = (jnp.asarray(xc), jnp.asarray(x), tuple(codes), jnp.asarray(y))
    kernel = NUTS(model)

    def one_chain(key, data):  # bench_paired's scheme: warm-up and draws, compiled once
        state = kernel.init(key, draws, None, model_args=data, model_kwargs={})
        state, _ = jax.lax.scan(lambda st, _: (kernel.sample(st, data, {}), None), state,
                                None, length=draws)

        def draw(st, _):
            st = kernel.sample(st, data, {})
            return st, (st.z, st.diverging, st.num_steps)

        _, (z, diverging, steps) = jax.lax.scan(draw, state, None, length=draws)
        return jax.vmap(kernel.postprocess_fn(data, {}))(z), diverging, steps

    run = jax.pmap(one_chain, in_axes=(0, None))

    def fit(seed: int):
        keys = jax.random.split(jax.random.PRNGKey(seed), chains)
        samples, diverging, steps = jax.block_until_ready(run(keys, data))
        samples = {k: np.asarray(v) for k, v in samples.items()}
        samples["b"] = np.stack([samples["intercept"], samples["b"]], axis=-1)
        return samples, np.asarray(diverging), np.asarray(steps)

    return fit


def _si_figures(samples: dict, diverging, steps, seconds: float) -> dict:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        import arviz as az
    ess, rhat = [], []
    for name in SI_NAMES:
        if name not in samples:
            continue
        x = np.asarray(samples[name])
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        for j in range(flat.shape[-1]):
            ess.append(float(az.ess(flat[..., j], method="bulk")))
            rhat.append(float(az.rhat(flat[..., j])))
    steps = np.asarray(steps)
    return {"seconds": seconds, "min_bulk_ess": min(ess), "max_rhat": max(rhat),
            "divergences": int(np.sum(diverging)), "steps_per_draw": float(steps.mean()),
            "ess_per_second": min(ess) / seconds,
            "ess_per_1k_gradients": 1000.0 * min(ess) / float(steps.sum())}


def subjects_items(family: str) -> dict:
    import formulang as fl

    frame = simulate(family)
    model = fl.Model(SI_FORMULA, frame, family=family)
    hand = handwritten(frame, family)

    def formulang_fit(seed):
        fit = model.fit(seed=seed, progress=False)
        post = fit.idata.posterior
        return ({k: post[k].values for k in post.data_vars}, fit.stats["diverging"],
                fit.stats["num_steps"])

    out = {"rows": len(frame), "formula": SI_FORMULA,
           "formulang_parameterisation": [g.mode for g in model.plan.groups]}
    for name, fit in (("hand-written", hand), ("formulang", formulang_fit)):
        for run, seed in (("first fit (compiles)", 0), ("compiled rerun", 1)):
            start = time.perf_counter()
            samples, diverging, steps = fit(seed)
            row = _si_figures(samples, diverging, steps, time.perf_counter() - start)
            out.setdefault(name, {})[run] = row
            print(family, name, run, json.dumps(row), flush=True)
    for run in ("first fit (compiles)", "compiled rerun"):
        f, h = out["formulang"][run], out["hand-written"][run]
        out.setdefault("ratios", {})[run] = {
            key: f[key] / h[key] for key in ("ess_per_second", "ess_per_1k_gradients")}
    return out


def si_markdown(results: dict) -> str:
    lines = ["| family | contender | run | min bulk ESS | max R-hat | wall s | ESS/s | "
             "ESS / 1k gradients |", "|---|---|---|---|---|---|---|---|"]
    for family, r in results.get("subjects_items", {}).items():
        for name in ("hand-written", "formulang"):
            for run, f in r[name].items():
                lines.append(f"| {family} | {name} | {run} | {f['min_bulk_ess']:.0f} | "
                             f"{f['max_rhat']:.3f} | {f['seconds']:.1f} | "
                             f"{f['ess_per_second']:.1f} | {f['ess_per_1k_gradients']:.1f} |")
        for run, ratio in r["ratios"].items():
            lines.append(f"| {family} | ratio formulang / hand-written | {run} | | | | "
                         f"{ratio['ess_per_second']:.2f}x | {ratio['ess_per_1k_gradients']:.2f}x |")
    return "\n".join(lines)


# ---- InstEval ---------------------------------------------------------------------------------
IE_FORMULA = "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)"
# ../shared/data from the main checkout (or shared/ inside it); $INSTEVAL_CSV overrides
IE_DATA = next((p for p in (HERE.parent.parent / "shared" / "data" / "InstEval.csv",
                            HERE.parent / "shared" / "data" / "InstEval.csv") if p.exists()),
               HERE.parent.parent / "shared" / "data" / "InstEval.csv")
LME4 = {"b_Intercept": 3.28067, "b_service1": -0.0535, "sd_s__Intercept": 0.3247,
        "sd_d__Intercept": 0.5124, "sd_dept:service__Intercept": 0.1097, "sigma": 1.1768}


def insteval_child(collapse, settings: dict | None = None) -> dict:
    """The fit itself (run in the child process): figures against lme4. ``settings``:
    ``fit``'s chains/draws/tune where given (default: formulang's)."""
    import pandas as pd

    import formulang as fl

    start = time.perf_counter()
    frame = pd.read_csv(os.environ.get("INSTEVAL_CSV", IE_DATA))
    frame["service"] = frame["service"].astype(str)
    model = fl.Model(IE_FORMULA, frame, collapse=collapse)
    built = time.perf_counter() - start
    fit = model.fit(progress=False, **(settings or {}))
    table = fit.summary()
    rows = {k: {"mean": float(table.loc[k, "mean"]), "sd": float(table.loc[k, "sd"]),
                "rhat": float(table.loc[k, "rhat"]), "ess_bulk": float(table.loc[k, "ess_bulk"]),
                "lme4": v, "z_vs_lme4": (float(table.loc[k, "mean"]) - v)
                / float(table.loc[k, "sd"])} for k, v in LME4.items()}
    steps = np.asarray(fit.stats["num_steps"])
    chains, draws = np.shape(steps)[:2]
    return {"collapse": model.collapse_reason, "build_s": built, "chains": int(chains),
            "draws": int(draws), "chain_method": fit.run.chain_method,
            "sampling_s": float(fit.run.seconds),
            "conditional_draws_s": float(fit.run.timings.get("conditional_draws_s", 0.0)),
            "steps_per_draw": float(steps.mean()),
            "min_bulk_ess": min(r["ess_bulk"] for r in rows.values()),
            "max_rhat": max(r["rhat"] for r in rows.values()),
            "max_abs_z_vs_lme4": max(abs(r["z_vs_lme4"]) for r in rows.values()),
            "parameters": rows}


# ---- VerbAgg --------------------------------------------------------------------------------
VA_FORMULA = "r2 ~ (Anger + Gender + btype + situ)^2 + (1 | id) + (1 | item)"


def verbagg_child() -> dict:
    """VerbAgg's Bernoulli fit at every default (run in the child process), twice: the first
    fit compiles, the second (seed 1) reuses the sampler. Min bulk ESS and max R-hat over every
    parameter but the effects ``r_`` (population coefficients and both SDs)."""
    import formulang as fl

    start = time.perf_counter()
    model = fl.Model(VA_FORMULA, fl.datasets.load("VerbAgg"), family="bernoulli")
    out = {"build_s": time.perf_counter() - start, "dense_mass": list(model.plan.dense_mass)}
    for run, seed in (("first fit (compiles)", 0), ("compiled rerun", 1)):
        start = time.perf_counter()
        fit = model.fit(seed=seed, progress=False)
        seconds = time.perf_counter() - start
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            import arviz as az
        post = fit.idata.posterior
        keep = [k for k in post.data_vars if not k.startswith("r_")]
        ess, rhat = az.ess(post[keep], method="bulk"), az.rhat(post[keep])
        min_ess = min(float(ess[k].min()) for k in keep)
        steps = np.asarray(fit.stats["num_steps"])
        out[run] = {"seconds": seconds, "min_bulk_ess": min_ess,
                    "max_rhat": max(float(rhat[k].max()) for k in keep),
                    "steps_per_draw": float(steps.mean()),
                    "warmup_gradients": int(np.sum(fit.run.warmup_gradients)),
                    "ess_per_second": min_ess / seconds}
    return out


def va_markdown(results: dict) -> str:
    lines = ["| run | whole process s | first fit s | min bulk ESS | ESS/s | rerun s | "
             "min bulk ESS | ESS/s | steps/draw | max R-hat |", "|---" * 10 + "|"]
    for label, r in results.get("verbagg", {}).items():
        f, c = r["first fit (compiles)"], r["compiled rerun"]
        lines.append(f"| {label} | {r['whole_process_s']:.0f} | {f['seconds']:.1f} | "
                     f"{f['min_bulk_ess']:.0f} | {f['ess_per_second']:.1f} | "
                     f"{c['seconds']:.1f} | {c['min_bulk_ess']:.0f} | "
                     f"{c['ess_per_second']:.1f} | {c['steps_per_draw']:.1f} | "
                     f"{max(f['max_rhat'], c['max_rhat']):.3f} |")
    return "\n".join(lines)


def insteval(collapse: str, settings: list[str] = (), design: str = "insteval") -> dict:
    """Run :func:`insteval_child` (or ``design``'s child) in a fresh process with an empty
    compilation cache (``settings``: ``--chains N``... passed on)."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, FORMULANG_CACHE_DIR=cache)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--design", design, "--child",
                              "--collapse", collapse, *settings], env=env,
                             capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode:
        raise RuntimeError(out.stderr[-4000:])
    row = json.loads(out.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"whole_process_s": wall, "cpu_s": cpu, "peak_rss_mb": after.ru_maxrss / 1024,
            "cores": os.cpu_count(), "load_average_1min": os.getloadavg()[0], **row}


def ie_markdown(results: dict) -> str:
    lines = ["| run | whole process s | CPU s | peak MB | steps/draw | min bulk ESS | "
             "max R-hat | max abs z vs lme4 | load (1 min) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, r in results.get("insteval", {}).items():
        lines.append(f"| {label} | {r['whole_process_s']:.0f} | {r['cpu_s']:.0f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['steps_per_draw']:.1f} | "
                     f"{r['min_bulk_ess']:.0f} | {r['max_rhat']:.3f} | "
                     f"{r['max_abs_z_vs_lme4']:.2f} | {r['load_average_1min']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--label", default="after")
    parser.add_argument("--markdown", action="store_true", help="print the table and stop")
    parser.add_argument("--design", default="penicillin", choices=("penicillin",
                                                                   "subjects_items",
                                                                   "insteval",
                                                                   "verbagg"))
    parser.add_argument("--families", default="gaussian,bernoulli")
    parser.add_argument("--collapse", default="auto", choices=("auto", "False"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("chains", "draws", "tune"):  # insteval: fit settings (default formulang's)
        parser.add_argument(f"--{name}", type=int, default=None)
    args = parser.parse_args()
    collapse = False if args.collapse == "False" else "auto"
    given = {k: getattr(args, k) for k in ("chains", "draws", "tune")
             if getattr(args, k) is not None}
    if args.child:
        print(json.dumps(verbagg_child() if args.design == "verbagg"
                         else insteval_child(collapse, given)))
        return
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.design == "insteval" and not args.markdown:
        row = insteval(args.collapse, [a for k, v in given.items()
                                       for a in (f"--{k}", str(v))])
        print(json.dumps(row, indent=1), flush=True)
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results.setdefault("insteval", {})[args.label] = row
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    elif args.design == "verbagg" and not args.markdown:
        row = insteval("auto", design="verbagg")
        print(json.dumps(row, indent=1), flush=True)
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results.setdefault("verbagg", {})[args.label] = row
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    elif args.design == "subjects_items" and not args.markdown:
        from formulang.infer.jax_setup import configure

        # an empty compilation cache, so each side's first fit compiles in full
        os.environ["FORMULANG_CACHE_DIR"] = tempfile.mkdtemp(prefix="formulang-si-cache-")
        configure()  # formulang's host devices (one per chain) before JAX starts
        for family in args.families.split(","):
            results.setdefault("subjects_items", {})[family] = subjects_items(family)
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    elif not args.markdown:
        rows = penicillin([int(s) for s in args.seeds.split(",")])
        results.setdefault("penicillin", {})[args.label] = rows
        results["target"] = {"min_bulk_ess": TARGET_ESS, "max_rhat": TARGET_RHAT}
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(markdown(results))
    print()
    print(si_markdown(results))
    print()
    print(ie_markdown(results))
    print()
    print(va_markdown(results))


if __name__ == "__main__":
    main()
