#!/usr/bin/env python3
"""Writes metric oracles for gpuinfer's retrieval evaluation (definitions and sources in
Tests/Models/eval_metrics.py): recall@N for visual place recognition, and the Kaggle Google
Landmarks mAP@100 (retrieval) and GAP (recognition). Pure NumPy, seeded, deterministic.

recall_small/, recall_medium/   (VPR recall@N, UTM threshold 25 m inclusive)
  db_descriptors.npy     float32 [D, dim], L2-normalized (small: D 40, dim 16; medium: 1000, 128)
  query_descriptors.npy  float32 [Q, dim], L2-normalized (small: Q 12; medium: 200)
  db_utm.npy, query_utm.npy   float64 [D|Q, 2] (east, north) meters; the same as db_utm.csv,
                         query_utm.csv (header `index,utm_east,utm_north`, %.2f)
  ranked.npy             int64 [Q, min(max N, D)]: database indices by descending score
                         (score = dot product of the stored vectors, i.e. cosine), exact ties by
                         ascending database index
  expected.json          recall_values, threshold, positives per query, recall@N as a fraction
                         (`recall`) and in percent (`recall_percent`, as the benchmark prints),
                         first_correct_rank, the planted ties, min_score_gap (the smallest gap
                         between distinct scores that decide the ranking: float32 evaluation
                         cannot reorder them)
  small: exact duplicate database vectors (ties that decide recall@1 both ways), a database image
  at exactly 25 m (positive) and one at 25.008 m (not), queries with several positives and
  queries with none, N = 100 > D = 40 (the prediction list is then the whole database).
  medium: 50 places on a 100 m grid, database and queries scattered N(0, 8 m) around them,
  40 queries 10 km away (no positives).

gldv2/   (Kaggle formats; ids are 16 hex digits)
  index_ids.txt, query_ids.txt     the index (300) and test (48) image ids
  retrieval_solution.csv   `id,images,Usage`: Public / Private rows with space-separated relevant
                           index ids (1 to 150 of them; one query has 100, one 150), Ignored rows
                           (images `None`) for queries without relevant images
  retrieval_predictions.csv `id,images`: ranked index ids; lists of 100, more than 100 (only the
                           first 100 count), fewer (5, 37, ...), one with repeated ids, one empty,
                           one query missing, rows for Ignored queries (skipped)
  recognition_solution.csv `id,landmarks,Usage`: one or two landmark ids, empty for non-landmark
                           queries (Public/Private), Ignored rows
  recognition_predictions.csv `id,landmarks`: "label confidence"; equal confidences (ties: by id,
                           then label), predictions for non-landmark queries (always wrong, still
                           counted), queries without a prediction (empty field)
  expected.json            mAP@100 and GAP for Public, Private and both together ("all"), the
                           per-query APs, and the counts used

usage: make_eval_fixtures.py [--out Tests/data/generated/eval]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_metrics as em  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
E0, N0 = 431000.0, 4582000.0
GAP_MIN = 1e-5


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def scores_of(q: np.ndarray, db: np.ndarray) -> np.ndarray:
    return q.astype(np.float64) @ db.astype(np.float64).T


def min_deciding_gap(scores: np.ndarray, k: int, dup_groups: list[list[int]]) -> float:
    """Smallest gap between distinct scores among each query's top k+1 (planted exact duplicates
    excluded: their scores are equal by construction)."""
    same = {j: tuple(g) for g in dup_groups for j in g}
    gap = np.inf
    for row in scores:
        order = sorted(range(len(row)), key=lambda j: (-row[j], j))[: k + 1]
        for a, b in zip(order, order[1:]):
            if same.get(a) is not None and same.get(a) == same.get(b):
                continue
            gap = min(gap, float(row[a] - row[b]))
    return gap


def recall_benchmark_style(ranked: np.ndarray, pos: list[list[int]], ns: list[int]) -> list[float]:
    """test.py's loop (a second implementation to cross-check eval_metrics.recall_at)."""
    recalls = np.zeros(len(ns))
    for qi, pred in enumerate(ranked):
        for i, n in enumerate(ns):
            if np.any(np.isin(pred[:n], pos[qi])):  # test.py: np.in1d (removed in NumPy 2.4)
                recalls[i:] += 1
                break
    return list(recalls / len(ranked))


def write_recall_set(out: str, db: np.ndarray, q: np.ndarray, db_utm: np.ndarray, q_utm: np.ndarray, ns: list[int],
                     dup_groups: list[list[int]], notes: dict) -> dict:
    os.makedirs(out)
    np.save(os.path.join(out, "db_descriptors.npy"), db)
    np.save(os.path.join(out, "query_descriptors.npy"), q)
    np.save(os.path.join(out, "db_utm.npy"), db_utm)
    np.save(os.path.join(out, "query_utm.npy"), q_utm)
    for name, utm in (("db_utm.csv", db_utm), ("query_utm.csv", q_utm)):
        with open(os.path.join(out, name), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["index", "utm_east", "utm_north"])
            for i, (e, n) in enumerate(utm):
                w.writerow([i, f"{e:.2f}", f"{n:.2f}"])
    scores = scores_of(q, db)
    k = min(max(ns), len(db))
    ranked = em.rank(scores, k)
    np.save(os.path.join(out, "ranked.npy"), ranked)
    pos = em.positives(db_utm, q_utm, 25.0)
    rec = em.recall_at(ranked, pos, ns)
    check = recall_benchmark_style(ranked, pos, ns)
    if not np.allclose([rec[n] for n in ns], check, atol=0, rtol=0):
        raise SystemExit(f"error: recall implementations disagree: {rec} vs {check}")
    gap = min_deciding_gap(scores, k, dup_groups)
    if gap < GAP_MIN:
        raise SystemExit(f"error: {out}: distinct scores only {gap:.2e} apart")
    info = {
        "threshold_m": 25.0, "rule": "positive iff sqrt(de^2 + dn^2) <= 25 (float64 coordinate differences)",
        "score": "dot product of the stored L2-normalized float32 descriptors (cosine); ranking by descending score, ties by ascending database index",
        "recall_values": ns, "top_k": k, "database_size": len(db), "queries": len(q),
        "positives": pos, "recall": {str(n): rec[n] for n in ns}, "recall_percent": {str(n): 100 * rec[n] for n in ns},
        "correct_queries": {str(n): round(rec[n] * len(q)) for n in ns},
        "first_correct_rank": em.first_correct_rank(ranked, pos), "queries_without_positives": [i for i, p in enumerate(pos) if not p],
        "exact_tie_groups": dup_groups, "min_score_gap": gap, **notes,
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"{os.path.basename(out)}: D {len(db)}, Q {len(q)}, recall {[round(rec[n], 4) for n in ns]}, "
          f"{len(info['queries_without_positives'])} queries without positives, min gap {gap:.1e}")
    return info


def recall_small(out: str) -> None:
    rng = np.random.default_rng(11)
    d, dim, nq = 40, 16, 12
    for attempt in range(1000):
        db = normalize(rng.standard_normal((d, dim)))
        db[7] = db[3]           # tie group A: 3 (far from q0) and 7 (near q0)
        db[20] = db[3]
        db[15] = db[11]         # tie group B: 11 (near q1) and 15 (far)
        base = [3, 11, 0, 5, 9, 12, 25, 30, 33, 36, 38, 2]
        q = normalize(db[base].astype(np.float64) + rng.standard_normal((nq, dim)) * 0.25)
        q[0] = db[3]            # exactly equal to the tie group A vectors: scores 1 (tie 3, 7, 20)
        if min_deciding_gap(scores_of(q, db), d, [[3, 7, 20], [11, 15]]) >= GAP_MIN:
            break
    # UTMs: database in clusters (places 200 m apart), with the relevant geometry placed by hand.
    db_utm = np.zeros((d, 2))
    for i in range(d):
        db_utm[i] = (E0 + 200.0 * (i % 8), N0 + 200.0 * (i // 8))
    q_utm = np.zeros((nq, 2))
    db_utm[3] = (E0 + 5000.0, N0)                 # tie A: 3 and 20 far from q0, 7 near
    db_utm[20] = (E0 + 5200.0, N0)
    db_utm[7] = (E0 + 3000.0, N0 + 10.0)
    q_utm[0] = (E0 + 3000.0, N0)                  # q0: positives {7} (10 m); 3 wins the tie -> miss at N=1, hit at N=2
    db_utm[11] = (E0 + 3600.0, N0)
    db_utm[15] = (E0 + 7000.0, N0)
    q_utm[1] = (E0 + 3615.0, N0 + 20.0)           # q1: db 11 at exactly 25 m (positive); 15 far
    db_utm[16] = (E0 + 3600.0, N0 + 40.01)        # 25.008 m from q1: not a positive
    for qi in range(2, nq):                       # the others near their base image's place,
        b = base[qi]                              # some of them pushed away (no positives)
        q_utm[qi] = db_utm[b] + (rng.uniform(-12, 12), rng.uniform(-12, 12))
    q_utm[4] = (E0 + 9000.0, N0 + 9000.0)         # q4, q9: no positives at all
    q_utm[9] = (E0 - 9000.0, N0 - 100.0)
    for qi in (5, 6):                             # q5, q6: several positives (a cluster of 4 database images)
        for j, dj in zip((21, 22, 23, 24), ((0, 0), (5, 5), (-10, 3), (8, -12))):
            db_utm[j] = (E0 + 2000.0 + dj[0], N0 + 2000.0 + dj[1])
        q_utm[qi] = (E0 + 2003.0 + qi, N0 + 2001.0)
    write_recall_set(out, db, q, db_utm, q_utm, [1, 5, 10, 20, 100], [[3, 7, 20], [11, 15]],
                     {"notes": "q0 equals database 3 = 7 = 20 exactly (score 1, a three-way tie ranked 3, 7, 20); only 7 is within 25 m, so "
                               "q0 misses at N=1 and hits at N=2. q1's base image 11 ties with its duplicate 15; 11 lies at exactly "
                               "25.000 m (positive), 16 at 25.008 m (not). q4 and q9 have no positives. q5 and q6 have the 4 positives "
                               "21-24 (a cluster). N = 100 exceeds the database (40): the list is the whole database."})


def recall_medium(out: str) -> None:
    rng = np.random.default_rng(12)
    places, d, nq, dim = 50, 1000, 200, 128
    centers = np.array([(E0 + 100.0 * (p % 10), N0 + 100.0 * (p // 10)) for p in range(places)])
    place_vec = rng.standard_normal((places, dim))
    db_place = rng.integers(0, places, d)
    db = normalize(place_vec[db_place] + rng.standard_normal((d, dim)) * 1.2)
    db_utm = centers[db_place] + rng.normal(0, 8.0, (d, 2))
    q_place = rng.integers(0, places, nq)
    q_utm = centers[q_place] + rng.normal(0, 8.0, (nq, 2))
    q_utm[160:] += 10000.0
    q = np.zeros((nq, dim), np.float32)
    for i in range(nq):  # redraw a query's noise until its top-101 scores are well separated
        for _ in range(1000):
            q[i] = normalize((place_vec[q_place[i]] + rng.standard_normal(dim) * 1.2)[None])[0]
            if min_deciding_gap(scores_of(q[i:i + 1], db), 100, []) >= GAP_MIN:
                break
    db_utm, q_utm = np.round(db_utm, 2), np.round(q_utm, 2)
    write_recall_set(out, db, q, db_utm, q_utm, [1, 5, 10, 20, 100], [],
                     {"notes": "50 places on a 100 m grid; descriptors = place vector + noise; queries 160-199 are 10 km away (no positives)"})


# ------------------------------------------------------------------------------------ GLDv2

def hex_ids(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    out = []
    while len(out) < n:
        s = f"{int(rng.integers(0, 2 ** 63)):016x}"
        if s not in taken:
            taken.add(s)
            out.append(s)
    return out


def ap_vectorized(pred: list[str], rel: set[str]) -> float:
    """Second implementation of AP@100 (cross-check)."""
    p = pred[:100]
    first = [i for i, x in enumerate(p) if x not in p[:i]]
    r = np.zeros(len(p))
    r[[i for i in first if p[i] in rel]] = 1
    if len(p) == 0:
        return 0.0
    prec = np.cumsum(r) / np.arange(1, len(p) + 1)
    return float((prec * r).sum() / min(len(rel), 100))


def gap_vectorized(preds: dict[str, tuple[int, float]], sol: dict[str, list[int]]) -> float:
    keys = [k for k in preds if k in sol]
    if not keys:
        return 0.0
    conf = np.array([preds[k][1] for k in keys])
    order = sorted(range(len(keys)), key=lambda i: keys[i])                 # by id
    order = [order[i] for i in np.argsort(-conf[order], kind="stable")]     # then by confidence, stable
    rel = np.array([preds[keys[i]][0] in sol[keys[i]] for i in order], float)
    prec = np.cumsum(rel) / np.arange(1, len(rel) + 1)
    return float((prec * rel).sum() / sum(1 for v in sol.values() if v))


def gldv2(out: str) -> None:
    os.makedirs(out)
    rng = np.random.default_rng(13)
    taken: set[str] = set()
    index = hex_ids(rng, 300, taken)
    queries = hex_ids(rng, 48, taken)
    with open(os.path.join(out, "index_ids.txt"), "w") as f:
        f.write("\n".join(index) + "\n")
    with open(os.path.join(out, "query_ids.txt"), "w") as f:
        f.write("\n".join(queries) + "\n")

    # ---- retrieval: queries 0-19 Public, 20-39 Private, 40-47 Ignored
    usage = ["Public"] * 20 + ["Private"] * 20 + ["Ignored"] * 8
    sizes = {0: 1, 1: 150, 2: 100, 3: 3, 21: 1, 22: 120, 23: 7}
    relevant: dict[str, list[str]] = {}
    for i, qid in enumerate(queries):
        if usage[i] != "Ignored":
            m = sizes.get(i, int(rng.integers(1, 25)))
            relevant[qid] = [index[j] for j in sorted(rng.choice(len(index), m, replace=False))]
    with open(os.path.join(out, "retrieval_solution.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "images", "Usage"])
        for i, qid in enumerate(queries):
            w.writerow([qid, " ".join(relevant[qid]) if qid in relevant else "None", usage[i]])
    predictions: dict[str, list[str]] = {}
    lengths = {0: 100, 1: 100, 2: 100, 3: 5, 4: 37, 5: 130, 6: 0, 21: 100, 22: 64, 23: 12}
    for i, qid in enumerate(queries):
        if i == 7 or i == 30:
            continue  # no row at all: AP 0
        n = lengths.get(i, int(rng.choice([100, 100, 50, 20])))
        rel = relevant.get(qid, [])
        # a ranking that mixes relevant and other ids: each position relevant with probability 0.4
        others = [x for x in index if x not in set(rel)]
        rel_left, oth_left = list(rng.permutation(rel)) if rel else [], list(rng.permutation(others))
        lst = []
        while len(lst) < n and (rel_left or oth_left):
            take_rel = rel_left and (not oth_left or rng.random() < 0.4)
            lst.append(str(rel_left.pop() if take_rel else oth_left.pop()))
        if i == 8:
            lst = lst[:10] + [lst[0], lst[1], lst[0]] + lst[10:97]  # repeats: count at first position only
        if i == 1:
            lst = list(rel[:100])  # all 100 predictions relevant, m = 150: AP = 100 / min(150, 100) = 1
        predictions[qid] = lst
    with open(os.path.join(out, "retrieval_predictions.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "images"])
        for qid in queries:
            if qid in predictions:
                w.writerow([qid, " ".join(predictions[qid])])

    # ---- recognition: 0-23 Public, 24-43 Private, 44-47 Ignored; landmark ids 0..29
    rusage = ["Public"] * 24 + ["Private"] * 20 + ["Ignored"] * 4
    landmarks: dict[str, list[int]] = {}
    for i, qid in enumerate(queries):
        if rusage[i] == "Ignored":
            continue
        if i % 5 == 4:
            landmarks[qid] = []                               # non-landmark query
        elif i % 7 == 3:
            landmarks[qid] = sorted(int(x) for x in rng.choice(30, 2, replace=False))  # two landmarks
        else:
            landmarks[qid] = [int(rng.integers(0, 30))]
    with open(os.path.join(out, "recognition_solution.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "landmarks", "Usage"])
        for i, qid in enumerate(queries):
            w.writerow([qid, " ".join(str(x) for x in landmarks.get(qid, [])), rusage[i]])
    rpred: dict[str, tuple[int, float]] = {}
    tie_values = [0.5, 0.75]
    for i, qid in enumerate(queries):
        if i in (10, 29):
            continue  # no prediction (empty field)
        gt = landmarks.get(qid, [])
        correct = bool(gt) and rng.random() < 0.6
        label = int(rng.choice(gt)) if correct else int(rng.integers(30, 40))
        conf = float(tie_values[i % 2]) if i % 3 == 0 else round(float(rng.uniform(0.01, 0.99)), 4)
        rpred[qid] = (label, conf)
    with open(os.path.join(out, "recognition_predictions.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "landmarks"])
        for qid in queries:
            w.writerow([qid, f"{rpred[qid][0]} {rpred[qid][1]}" if qid in rpred else ""])

    # ---- expected values: re-read the CSVs as Kaggle's reader does, then score
    def read_solution(path: str, retrieval: bool) -> dict[str, dict]:
        subsets: dict[str, dict] = {"Public": {}, "Private": {}}
        with open(path, newline="") as f:
            r = csv.reader(f)
            next(r)
            for qid, ids, use in r:
                if use == "Ignored":
                    continue
                subsets[use][qid] = ids.split(" ") if retrieval else [int(x) for x in ids.split(" ") if x]
        subsets["all"] = {**subsets["Public"], **subsets["Private"]}
        return subsets

    rsol = read_solution(os.path.join(out, "retrieval_solution.csv"), True)
    csol = read_solution(os.path.join(out, "recognition_solution.csv"), False)
    rp, cp = {}, {}
    with open(os.path.join(out, "retrieval_predictions.csv"), newline="") as f:
        r = csv.reader(f)
        next(r)
        for qid, ids in r:
            if qid in rsol["all"] and ids:
                rp[qid] = [x for x in ids.split(" ") if x]
    with open(os.path.join(out, "recognition_predictions.csv"), newline="") as f:
        r = csv.reader(f)
        next(r)
        for qid, val in r:
            if qid in csol["all"] and val:
                lab, conf = val.split(" ")
                cp[qid] = (int(lab), float(conf))
    expected: dict = {"mAP@100": {}, "GAP": {}, "per_query_AP": {}, "counts": {}}
    for subset in ("Public", "Private", "all"):
        m, aps = em.mean_average_precision(rp, rsol[subset])
        m2 = sum(ap_vectorized(rp[q], set(v)) if q in rp else 0.0 for q, v in rsol[subset].items()) / len(rsol[subset])
        g = em.global_average_precision(cp, csol[subset])
        g2 = gap_vectorized(cp, csol[subset])
        if abs(m - m2) > 1e-12 or abs(g - g2) > 1e-12:
            raise SystemExit(f"error: metric implementations disagree: mAP {m} vs {m2}, GAP {g} vs {g2}")
        expected["mAP@100"][subset] = m
        expected["GAP"][subset] = g
        expected["per_query_AP"][subset] = aps
        expected["counts"][subset] = {
            "retrieval_queries": len(rsol[subset]), "retrieval_queries_without_prediction": sum(1 for q in rsol[subset] if q not in rp),
            "recognition_queries": len(csol[subset]), "recognition_queries_with_landmarks (M)": sum(1 for v in csol[subset].values() if v),
            "recognition_predictions": sum(1 for q in cp if q in csol[subset]),
        }
    expected["definitions"] = ("mAP@100: mean over the subset's solution queries of (1/min(m,100)) sum_{k<=100} P(k) rel(k), "
                               "repeats count only at their first rank, missing predictions give AP 0. GAP: predictions of the subset's "
                               "queries sorted by confidence descending, ties by query id then label ascending; (1/M) sum_i P(i) rel(i), "
                               "M = queries with >= 1 landmark; predictions for non-landmark queries count as wrong. Ignored rows are "
                               "excluded from both. See Tests/Models/eval_metrics.py.")
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(f"gldv2: mAP@100 {expected['mAP@100']}, GAP {expected['GAP']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "data", "generated", "eval"))
    a = ap.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(a.out)
    recall_small(os.path.join(a.out, "recall_small"))
    recall_medium(os.path.join(a.out, "recall_medium"))
    gldv2(os.path.join(a.out, "gldv2"))
    cases = {
        "recall_small": "VPR recall@N: recall_small/expected.json (inputs: *.npy, *.csv)",
        "recall_medium": "VPR recall@N: recall_medium/expected.json",
        "gldv2": "Kaggle GLDv2 mAP@100 (retrieval_*.csv) and GAP (recognition_*.csv): gldv2/expected.json",
        "definitions": "Tests/Models/eval_metrics.py",
    }
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
