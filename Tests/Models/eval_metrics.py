"""Retrieval metric oracles in plain Python/NumPy (independent of gpuinfer), used by
make_eval_fixtures.py and make_vpr_fixtures.py. Definitions (with their sources):

recall@N (visual place recognition, gmberton/deep-visual-geo-localization-benchmark):
  positives(q) = database images whose UTM position (east, north) is within `threshold` meters of
  the query's, Euclidean, INCLUSIVE: d <= threshold (datasets_ws.py: sklearn
  NearestNeighbors.radius_neighbors(radius=val_positive_dist_threshold = 25); sklearn documents
  "points lying on the boundary are included"). Computed here as sqrt(de^2 + dn^2) in float64 from
  the coordinate differences. A query is correct at N when any of its top-N predictions is a
  positive (test.py: np.in1d(pred[:N], positives)); queries without positives are always misses;
  recall@N = correct / number of queries (test.py prints it x100 as a percentage). With N larger
  than the database, the prediction list is the whole database.
  Ranking: by descending score, exact ties by ascending database index (the benchmark ranks by
  ascending faiss IndexFlatL2 distance; for L2-normalized descriptors that is the same order as
  descending cosine).

mAP@100 (Google Landmark Retrieval, Kaggle; tensorflow/models research/delf/.../
google_landmarks_dataset/metrics.py MeanAveragePrecision, dataset_file_io.py ReadSolution):
  for each query q of the solution subset (Usage Public or Private; Ignored rows are not part of
  the solution), with relevant set R_q (m_q = |R_q| >= 1) and prediction list p_q (first 100
  entries; a repeated id counts only at its first position, later repeats are non-relevant but
  still occupy their rank):  AP@100(q) = (1 / min(m_q, 100)) * sum_{k=1..min(n_q,100)} P_q(k) rel_q(k)
  mAP@100 = mean of AP over ALL solution queries of the subset (a query without predictions: 0).

GAP (Global Average Precision, Google Landmark Recognition, Kaggle; same metrics.py,
GlobalAveragePrecision with ignore_non_gt_test_images=False):
  one (label, confidence) prediction per query (queries without a prediction contribute nothing);
  predictions sorted by confidence descending, ties by query id ascending then label ascending;
  walking that list, i counts predictions so far (including those for queries without any
  ground-truth landmark: they are always wrong), and GAP = (1/M) sum_i P(i) rel(i), with
  M = number of solution queries (of the subset) with at least one ground-truth landmark.
  rel(i) = 1 when the predicted label is one of the query's landmarks.
"""
from __future__ import annotations

import numpy as np


# ----------------------------------------------------------------------------------- VPR recall

def positives(db_utm: np.ndarray, q_utm: np.ndarray, threshold: float = 25.0) -> list[list[int]]:
    """Sorted database indices within `threshold` (inclusive) of each query."""
    out = []
    for q in np.asarray(q_utm, np.float64):
        d = np.sqrt(((np.asarray(db_utm, np.float64) - q) ** 2).sum(1))
        out.append([int(i) for i in np.nonzero(d <= threshold)[0]])
    return out


def rank(scores: np.ndarray, k: int) -> np.ndarray:
    """[Q, min(k, D)] database indices by descending score, ties by ascending index."""
    q, d = scores.shape
    k = min(k, d)
    out = np.empty((q, k), np.int64)
    for i in range(q):
        order = sorted(range(d), key=lambda j: (-float(scores[i, j]), j))
        out[i] = order[:k]
    return out


def rank_by_distance(dist: np.ndarray, k: int) -> np.ndarray:
    """[Q, min(k, D)] database indices by ascending distance, ties by ascending index."""
    return rank(-np.asarray(dist, np.float64), k)


def recall_at(ranked: np.ndarray, pos: list[list[int]], ns: list[int]) -> dict[int, float]:
    """Fraction of queries (in [0, 1]) with a positive among their first N predictions, per N."""
    q = len(pos)
    out = {}
    for n in ns:
        correct = sum(1 for i in range(q) if set(int(j) for j in ranked[i, :n]) & set(pos[i]))
        out[n] = correct / q
    return out


def first_correct_rank(ranked: np.ndarray, pos: list[list[int]]) -> list[int | None]:
    """1-based rank of each query's first positive in its prediction list (None: none there)."""
    out: list[int | None] = []
    for i, p in enumerate(pos):
        hits = [r + 1 for r, j in enumerate(ranked[i]) if int(j) in set(p)]
        out.append(hits[0] if hits else None)
    return out


# --------------------------------------------------------------------------- mAP@100 and GAP

def average_precision(prediction: list[str], relevant: set[str], max_predictions: int = 100) -> float:
    seen: set[str] = set()
    hits = 0
    total = 0.0
    for k, image in enumerate(prediction[:max_predictions], start=1):
        if image in seen:
            continue
        seen.add(image)
        if image in relevant:
            hits += 1
            total += hits / k
    return total / min(len(relevant), max_predictions)


def mean_average_precision(predictions: dict[str, list[str]], solution: dict[str, list[str]],
                           max_predictions: int = 100) -> tuple[float, dict[str, float]]:
    """mAP over every query of `solution` (each with >= 1 relevant image); also the per-query APs."""
    aps = {q: (average_precision(predictions[q], set(rel), max_predictions) if q in predictions else 0.0)
           for q, rel in solution.items()}
    return sum(aps.values()) / len(aps), aps


def global_average_precision(predictions: dict[str, tuple[int, float]], solution: dict[str, list[int]]) -> float:
    """GAP: `predictions` query -> (label, confidence) for queries of `solution` (query -> its
    landmarks, possibly empty)."""
    m = sum(1 for v in solution.values() if v)
    items = sorted(((q, lab, conf) for q, (lab, conf) in predictions.items() if q in solution),
                   key=lambda t: (-t[2], t[0], t[1]))
    correct = 0
    total = 0.0
    for i, (q, lab, _) in enumerate(items, start=1):
        if lab in solution[q]:
            correct += 1
            total += correct / i
    return total / m
