"""LightGBM boosters compiled once into flat arrays, scored by a Numba kernel.

Why: the live cycle and a season replay score one feature row with 84 boosters per cycle.
LightGBM's single-row API costs tens of microseconds per booster in call overhead and per-tree
bookkeeping; walking the same trees in :func:`floodwarn.kernels.trees.predict_forest` costs a
fraction, and gives the same doubles (same thresholds, same missing-value routing, same order
of summation — ``tests/forecast/test_trees.py`` checks this against ``Booster.predict``).

Only what the kernel reproduces exactly is compiled: numerical splits, no linear trees, one
tree per iteration, an objective whose raw score is the prediction (regression, quantile,
L1, Huber, Fair). Anything else returns None and the caller keeps using LightGBM.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: objectives whose prediction is the raw score (LightGBM's ConvertOutput is the identity)
IDENTITY_OBJECTIVES = {"regression", "regression_l2", "l2", "mean_squared_error", "mse", "quantile",
                       "regression_l1", "l1", "mean_absolute_error", "mae", "huber", "fair"}


class Unsupported(ValueError):
    """The model uses something the kernel does not reproduce exactly."""


@dataclass(frozen=True)
class Forest:
    """Several boosters' trees as flat arrays (the arguments of ``predict_forest``)."""

    n_features: int
    split_feature: np.ndarray
    threshold: np.ndarray
    decision_type: np.ndarray
    left_child: np.ndarray
    right_child: np.ndarray
    leaf_value: np.ndarray
    tree_node: np.ndarray
    tree_leaf: np.ndarray
    tree_leaves: np.ndarray
    booster_tree: np.ndarray

    @property
    def n_boosters(self) -> int:
        return len(self.booster_tree) - 1

    def predict_row(self, x: np.ndarray) -> np.ndarray:
        """Raw score of every booster for one row of ``n_features`` values (float32 or float64)."""
        from floodwarn.kernels.trees import ZERO_THRESHOLD, predict_forest

        row = np.asarray(x, dtype=np.float64).reshape(-1)
        if row.shape[0] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, got {row.shape[0]}")
        return predict_forest(row, self.split_feature, self.threshold, self.decision_type,
                              self.left_child, self.right_child, self.leaf_value, self.tree_node,
                              self.tree_leaf, self.tree_leaves, self.booster_tree, ZERO_THRESHOLD)


def _parse_model(text: str, num_iteration: int) -> tuple[int, list[dict[str, str]]]:
    """(number of features, the key=value blocks of the trees used) of a LightGBM text model."""
    header, _, rest = text.partition("\nTree=")
    head = dict(line.split("=", 1) for line in header.splitlines() if "=" in line)
    objective = head.get("objective", "").split()
    if not objective or objective[0] not in IDENTITY_OBJECTIVES or "sqrt" in objective[1:]:
        raise Unsupported(f"objective {head.get('objective')!r}")
    if int(head.get("num_tree_per_iteration", "1")) != 1 or int(head.get("num_class", "1")) != 1:
        raise Unsupported("more than one tree per iteration")
    n_features = int(head["max_feature_idx"]) + 1
    body = "Tree=" + rest
    body = body.split("\nend of trees", 1)[0]
    trees = []
    for block in body.split("Tree=")[1:]:
        kv = dict(line.split("=", 1) for line in block.splitlines()[1:] if "=" in line)
        trees.append(kv)
    if num_iteration > 0:
        trees = trees[:num_iteration]
    return n_features, trees


def compile_boosters(boosters: Sequence[Any], num_iterations: Sequence[int] | None = None) -> Forest:
    """A :class:`Forest` of ``boosters`` (``lightgbm.Booster``), each limited to its iteration
    count like ``Booster.predict(num_iteration=...)`` (<= 0: all). Raises :class:`Unsupported`."""
    feat, thr, dtype, left, right, leaf = [], [], [], [], [], []
    tree_node, tree_leaf, tree_leaves, booster_tree = [], [], [], [0]
    n_feat = None
    n_nodes = n_leaves = 0
    for k, b in enumerate(boosters):
        it = num_iterations[k] if num_iterations is not None else b.best_iteration
        nf, trees = _parse_model(b.model_to_string(num_iteration=-1), int(it))
        if n_feat is not None and nf != n_feat:
            raise Unsupported("boosters disagree on the number of features")
        n_feat = nf
        for kv in trees:
            if int(kv.get("num_cat", "0")) or int(kv.get("is_linear", "0")):
                raise Unsupported("categorical split or linear tree")
            nl = int(kv["num_leaves"])
            values = [float(v) for v in kv["leaf_value"].split()]
            if len(values) != nl:
                raise Unsupported("leaf count mismatch")
            tree_node.append(n_nodes)
            tree_leaf.append(n_leaves)
            tree_leaves.append(nl)
            leaf += values
            n_leaves += nl
            if nl > 1:
                sf = [int(v) for v in kv["split_feature"].split()]
                dt = [int(v) for v in kv["decision_type"].split()]
                if any(d & 1 for d in dt):
                    raise Unsupported("categorical split")
                feat += sf
                thr += [float(v) for v in kv["threshold"].split()]
                dtype += dt
                left += [int(v) for v in kv["left_child"].split()]
                right += [int(v) for v in kv["right_child"].split()]
                n_nodes += nl - 1
                if not (len(feat) == len(thr) == len(dtype) == len(left) == len(right) == n_nodes):
                    raise Unsupported("node arrays of different lengths")
        booster_tree.append(len(tree_node))
    if n_feat is None:
        raise Unsupported("no boosters")
    if feat and max(feat) >= n_feat:
        raise Unsupported("split on a feature beyond max_feature_idx")
    return Forest(
        n_features=n_feat,
        split_feature=np.asarray(feat, dtype=np.int64),
        threshold=np.asarray(thr, dtype=np.float64),
        decision_type=np.asarray(dtype, dtype=np.int64),
        left_child=np.asarray(left, dtype=np.int64),
        right_child=np.asarray(right, dtype=np.int64),
        leaf_value=np.asarray(leaf, dtype=np.float64),
        tree_node=np.asarray(tree_node, dtype=np.int64),
        tree_leaf=np.asarray(tree_leaf, dtype=np.int64),
        tree_leaves=np.asarray(tree_leaves, dtype=np.int64),
        booster_tree=np.asarray(booster_tree, dtype=np.int64),
    )


def try_compile(boosters: Sequence[Any]) -> Forest | None:
    """:func:`compile_boosters`, or None (logged) when the models need LightGBM itself."""
    try:
        return compile_boosters(boosters)
    except (Unsupported, KeyError, ValueError) as err:
        log.debug("boosters not compiled (LightGBM predicts them): %s", err)
        return None
