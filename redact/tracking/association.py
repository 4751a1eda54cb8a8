"""Which detection continues which track: candidate pairs found near each other, taken greedily.

Both steps work on arrays of all tracks at once, and only pairs that are near each other are
scored, so a frame costs in proportion to its faces, not to their square: a crowd of 600 costs
60 times a crowd of 10.
"""

from __future__ import annotations

import numpy as np


def near_pairs(a_xy: np.ndarray, reach: np.ndarray, b_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) with point b_j within ``reach[i]`` of a_i along both axes.

    Sorting b by x and cutting one window per a keeps the work proportional to the
    number of points plus the pairs found, not to len(a) x len(b)."""
    if not len(a_xy) or not len(b_xy):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(b_xy[:, 0], kind="stable")
    bx = b_xy[order, 0]
    lo = np.searchsorted(bx, a_xy[:, 0] - reach, side="left")
    hi = np.searchsorted(bx, a_xy[:, 0] + reach, side="right")
    counts = hi - lo
    rows = np.repeat(np.arange(len(a_xy)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = order[np.repeat(lo, counts) + offsets]
    close = np.abs(a_xy[rows, 1] - b_xy[cols, 1]) <= reach[rows]
    return rows[close], cols[close]


def greedy_match(rows: np.ndarray, cols: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs taken best score first, each row and column at most once (the greedy assignment).

    Each round takes every pair that is the best left for both its row and its column; those
    are exactly the pairs a one-by-one greedy pass would take next, so rounds are few."""
    order = np.argsort(-score, kind="stable")
    rows, cols = rows[order], cols[order]
    taken_rows, taken_cols = [], []
    while len(rows):
        _, first_of_row = np.unique(rows, return_index=True)
        _, first_of_col = np.unique(cols, return_index=True)
        best = np.zeros(len(rows), dtype=np.int8)
        best[first_of_row] += 1
        best[first_of_col] += 1
        take = best == 2
        taken_rows.append(rows[take])
        taken_cols.append(cols[take])
        free = ~np.isin(rows, rows[take]) & ~np.isin(cols, cols[take])
        rows, cols = rows[free], cols[free]
    if not taken_rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(taken_rows), np.concatenate(taken_cols)
