"""The benchmark models: formula, dataset (shipped with formulang)."""

MODELS = {
    "radon_intercept": {"formula": "log_radon ~ floor + (1 | county)", "data": "radon"},
    "radon_slope": {"formula": "log_radon ~ floor + (1 + floor | county)", "data": "radon"},
    "sleepstudy": {"formula": "Reaction ~ Days + (Days | Subject)", "data": "sleepstudy"},
}
