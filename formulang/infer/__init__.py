"""Inference: NUTS, MAP and VI fits, predictions."""
