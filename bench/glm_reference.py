"""The measured gaps behind the README's Agreement sentence on R's GLMs.

Fits each case of ``tests/fixtures/r_glm/glm.json`` exactly as ``tests/test_glm_reference.py``
does (same priors, chains, draws; its seed, then the extra seeds given) and records, per case,
seed and quantity (coefficients, the family parameter on the log scale, predicted means):
the largest |posterior mean - R's MLE| in posterior SDs and as a share of the test's
tolerance (0.2 SD + 3 MCSE), the range of posterior SD / R's SE, the worst R-hat and bulk
ESS; and, for weighted cases, how far the unweighted MLEs lie. Run:
``python bench/glm_reference.py [--seeds 100,101,102]`` (about 1 minute of CPU); writes
``bench/results/glm_reference.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("FORMULANG_COMPILATION_CACHE", "0")  # as the test suite compiles

import test_glm_reference as t

import formulang as fl
from formulang.lower.families import FAMILIES
from formulang.report.convergence import convergence


def measure(draws: np.ndarray, reference: np.ndarray, se=None) -> dict:
    rhat, ess, _ = convergence(draws)
    flat = draws.reshape(-1, draws.shape[-1])
    sd = flat.std(axis=0, ddof=1)
    gap = np.abs(flat.mean(axis=0) - reference)
    out = {"max_gap_sd": float(np.max(gap / sd)),
           "max_gap_over_tolerance": float(np.max(gap / t.tolerance(sd, ess))),
           "max_rhat": float(rhat.max()), "min_ess_bulk": float(ess.min())}
    if se is not None:
        ratio = sd / np.asarray(se, dtype=float)
        out["sd_over_se"] = [float(ratio.min()), float(ratio.max())]
    return out


def run_case(name: str, case: dict, seeds: list[int]) -> list[dict]:
    aux = FAMILIES[case["family"]].aux
    model = fl.Model(case["formula"], pd.read_csv(t.FIXTURE / case["data"]),
                     family=case["family"], link=case["link"],
                     priors={**t.PRIORS, **{a: t.AUX_PRIOR for a in aux}})
    rows = []
    coefs = case["coefficients"]
    mle = np.array([c["estimate"] for c in coefs.values()])
    for seed in seeds:
        fit = model.fit(draws=t.DRAWS, tune=t.TUNE, chains=t.CHAINS, seed=seed, progress=False)
        b = t.coefficient_draws(fit, case)
        found = {"coefficients": measure(b, mle, [c["se"] for c in coefs.values()])}
        if "aux" in case:
            (a, ref), = case["aux"].items()
            found["log_" + a] = measure(np.log(np.asarray(fit.samples[a], float))[..., None],
                                        np.array([np.log(ref["estimate"])]),
                                        [ref["se"] / ref["estimate"]])
        new = pd.DataFrame(case["newdata"])
        kind = "prob" if FAMILIES[case["family"]].trials else "mean"
        found["predicted_" + kind] = measure(
            fit.predict(new, kind=kind).reshape(t.CHAINS, t.DRAWS, len(new)),
            np.asarray(case["predict"]["mean"]), case["predict"]["se"])
        if "unweighted" in case:
            found["unweighted_mle"] = measure(b, np.array([case["unweighted"][c]
                                                           for c in coefs]))
        rows += [{"case": name, "seed": seed, "quantity": k, **v} for k, v in found.items()]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="100,101,102",
                        help="extra seeds besides the test's own (comma-separated)")
    args = parser.parse_args()
    extra = [int(s) for s in args.seeds.split(",") if s]
    rows = []
    for name in sorted(t.CASES):
        rows += run_case(name, t.CASES[name], [sorted(t.CASES).index(name)] + extra)
    table = pd.DataFrame(rows)
    checked = table[table.quantity != "unweighted_mle"]
    own = checked[checked.seed < min(extra, default=10**9)] if extra else checked

    def worst(frame: pd.DataFrame) -> dict:
        ratios = np.array(frame.sd_over_se.tolist())
        return {"max_gap_sd": float(frame.max_gap_sd.max()),
                "max_gap_over_tolerance": float(frame.max_gap_over_tolerance.max()),
                "sd_over_se": [float(ratios.min()), float(ratios.max())],
                "max_rhat": float(frame.max_rhat.max()),
                "min_ess_bulk": float(frame.min_ess_bulk.min())}

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
        "settings": {"chains": t.CHAINS, "tune": t.TUNE, "draws": t.DRAWS,
                     "priors": t.PRIORS, "aux_prior": t.AUX_PRIOR, "extra_seeds": extra},
        "test_seeds": {q: worst(own[own.quantity.str.startswith(q)])
                       for q in ("coefficients", "log_", "predicted_")},
        "all_seeds": {q: worst(checked[checked.quantity.str.startswith(q)])
                      for q in ("coefficients", "log_", "predicted_")},
        "unweighted_min_gap_sd": float(table[table.quantity == "unweighted_mle"]
                                       .max_gap_sd.min()),
        "rows": rows,
    }
    out = ROOT / "bench" / "results" / "glm_reference.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))


if __name__ == "__main__":
    main()
