"""Raw scores of LightGBM tree ensembles for one feature row (numerical splits only).

The arrays are those of LightGBM's text model (see ``floodwarn.forecast.trees``), all trees of
several boosters concatenated. A node's decision follows LightGBM's ``NumericalDecision``:

- a value with ``|v| <= 1e-35f`` is read as 0.0 (LightGBM drops such values from a dense
  row before the trees see it);
- ``missing_type = (decision_type >> 2) & 3`` (0 none, 1 zero, 2 NaN), default-left bit 2;
- a NaN value counts as 0.0 unless the missing type is NaN;
- a missing value (zero for type 1: ``|v| <= 1e-35f``; NaN for type 2) goes to the default
  child; any other value goes left iff ``v <= threshold``.

Children ``>= 0`` are internal nodes of the same tree, ``< 0`` are leaves ``~child``. A booster's
score is the sum of its trees' leaf values in tree order, from 0.0 — LightGBM's own order of
summation, so the doubles are the same.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit

#: LightGBM's kZeroThreshold (1e-35f), as the double it is compared in
ZERO_THRESHOLD = float(np.float32(1e-35))


@jit
def predict_forest(
    x: np.ndarray,
    split_feature: np.ndarray,
    threshold: np.ndarray,
    decision_type: np.ndarray,
    left_child: np.ndarray,
    right_child: np.ndarray,
    leaf_value: np.ndarray,
    tree_node: np.ndarray,
    tree_leaf: np.ndarray,
    tree_leaves: np.ndarray,
    booster_tree: np.ndarray,
    zero: float,
) -> np.ndarray:
    """Score of each booster ``b`` (trees ``booster_tree[b]`` .. ``booster_tree[b + 1] - 1``).

    ``x``: the feature row as float64 (float32 values widened exactly). ``tree_node`` /
    ``tree_leaf``: offset of each tree's nodes / leaves; ``tree_leaves``: its leaf count.
    ``zero``: the zero band of missing type 1 (:data:`ZERO_THRESHOLD`).
    """
    nb = booster_tree.shape[0] - 1
    out = np.zeros(nb, dtype=np.float64)
    # LightGBM hands the trees only values with |v| > zero (or NaN); the rest read as 0.0
    xr = np.empty(x.shape[0], dtype=np.float64)
    for j in range(x.shape[0]):
        v = x[j]
        xr[j] = 0.0 if (v >= -zero and v <= zero) else v
    for b in range(nb):
        s = 0.0
        for t in range(booster_tree[b], booster_tree[b + 1]):
            if tree_leaves[t] <= 1:
                s += leaf_value[tree_leaf[t]]
                continue
            base = tree_node[t]
            node = 0
            while node >= 0:
                i = base + node
                v = xr[split_feature[i]]
                dt = decision_type[i]
                missing = (dt >> 2) & 3
                if np.isnan(v) and missing != 2:
                    v = 0.0
                if (missing == 1 and v >= -zero and v <= zero) or (
                    missing == 2 and np.isnan(v)
                ):
                    node = left_child[i] if (dt & 2) != 0 else right_child[i]
                elif v <= threshold[i]:
                    node = left_child[i]
                else:
                    node = right_child[i]
            s += leaf_value[tree_leaf[t] + ~node]
        out[b] = s
    return out
