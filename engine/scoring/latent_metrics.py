"""CryoBench's latent-space metrics: neighbourhood similarity over k and information imbalance
both ways, between the true conformational coordinates and a method's output coordinates.

Both compare *neighbourhoods*, so they need no well labels and no choice of two output
dimensions: they run on the method's full output (N, d). Everything is computed inside one
seeded random subsample of the particles (:data:`DEFAULT_SUBSAMPLE` of them, all of them when
there are fewer); :attr:`LatentMetrics.n_used` says how many.

**Neighbourhood similarity** (CryoBench, Jeon et al. 2024, after Boggust et al. 2022;
ml-struct-bio/CryoBench ``metrics/neighborhood_similarity/cal_neighb_hit_werror.py`` and
``make_plot.py``): for each particle, the fraction of its k nearest neighbours in the truth
(cc1, cc2) that are also among its k nearest neighbours in the output, averaged over the
particles. CryoBench computes it in subsets of 20,000 particles for k = 200 .. 4,000 and plots
it against the "neighbourhood radius" k / n_subset from 0 to 10 %; we follow that: the curve
runs from k = 1 to k_max = 10 % of the other particles in the subsample, on log-spaced k, with
its radius k / (n_used - 1). CryoBench counts the particle itself among its k + 1 nearest (a
free match, bias 1 / k); we exclude it, so a random output scores exactly k / (n_used - 1)
(:attr:`LatentMetrics.chance`). The **summary** is the mean of the curve over every k with
radius 1 % .. 10 %, i.e. the normalised area under CryoBench's plot where its points lie:
one number that does not hinge on one k, and -- because the range is a fraction of the
subsample, not a count -- nearly the same for any subsample size (0.580, 0.584, 0.584, 0.585
at 2,000, 5,000, 10,000, 20,000 particles in the bench). A random output scores about 5.5 % on
it, a perfect one 100 %.

**Information imbalance** (Glielmo et al., PNAS Nexus 1, pgac039, 2022; CryoBench computes it
with dadapy, ml-struct-bio/CryoBench ``metrics/information_imbalance/compute_information_imbalance.py``):
Delta(A -> B) = (2 / n) * mean over i of r_B(i, nn_A(i)), where nn_A(i) is i's nearest
neighbour in space A and r_B(i, j) the rank of j among i's neighbours in space B (1 = the
nearest). Near 0: A predicts B's neighbourhoods (its minimum, 2 / n, when nearest neighbours
agree); near 1: A says nothing about B. Delta(truth -> output) is small when particles close in
the truth stay close in the output; Delta(output -> truth) is small when particles close in the
output are close in the truth (an output that drops a true coordinate is high this way only).
Like dadapy (``subset_size``; CryoBench used 2,000) neighbours and ranks are taken within the
subsample, so n is ``n_used`` and Delta describes neighbourhoods at that density: it drifts
with the subsample size (Delta(output -> truth) 0.069, 0.066, 0.065, 0.063 at 2,000 .. 20,000
particles in the bench), which is why the size is fixed by default and reported. Only the
nearest neighbour (k = 1) is used; CryoBench also shows k = 3. Ranks come from chunked rows of
exact distances (never an n x n matrix in memory).

Conventions:

- Distances are plain Euclidean on the coordinates as given: the truth in degrees (cc1 and cc2
  share the unit), the output in its own units. Nothing is standardised, as in CryoBench (raw
  norms in both scripts): both metrics are invariant to rotating, translating or uniformly
  scaling either space, but scaling output dimensions separately would change what "near"
  means, and a method's relative scales (a PCA's variances, a VAE's prior) carry information;
  rescale before calling if you mean to.
- Self-matches are excluded everywhere (a particle is not its own neighbour).
- Ties: neighbours are ordered by (distance, position in the subsample). The subsample is a
  seeded random permutation, so this is a seeded random tie-break, deterministic for a seed,
  and the *same* order in both spaces: an output that reproduces the truth's ties (the truth
  itself) scores exactly 1 and 2 / n; ties in only one space (a discrete output, as the true
  coordinates are continuous) are broken at random, which neither rewards nor penalises them.
  (Were both spaces to have ties of their own, the shared order could correlate the breaks.)
- Rows with a NaN or infinite coordinate are refused (ValueError naming the array, how many
  rows and the first ones): pass only the particles the output scored.

Example::

    m = latent_metrics(truth_deg, output_coords, seed=0)   # (N, 2) degrees, (N, d)
    m.similarity_summary, m.imbalance_truth_to_output, m.imbalance_output_to_truth
    m.k, m.radius, m.similarity, m.chance                  # the curve, CryoBench's figure
    m.as_dict()                                            # JSON-ready, with n_used and seed
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

# Default subsample, from bench/bench_latent_metrics.py (3,000,000 particles, a synthetic 8-D
# output, 2 cores shared with other work, fastest of 6 runs; std over the 6 subsample seeds):
#    n_used   time    std: similarity summary, Delta(truth->output), Delta(output->truth)
#     2,000   0.3 s        0.0044  0.0013  0.0023
#     5,000   1.1 s        0.0028  0.0018  0.0009
#    10,000   4.2 s        0.0026  0.0011  0.0009
#    20,000  30   s        0.0016  0.0005  0.0006
# The work grows as n_used^2 (k_max and the rank rows both scale with it); 5,000 keeps every
# spread near 0.003, far below the gaps between methods worth reporting, in about a second.
DEFAULT_SUBSAMPLE = 5_000
MAX_RADIUS = 0.10           # the curve ends at k = 10 % of the other particles (CryoBench's plot)
SUMMARY_RADII = (0.01, 0.10)  # the summary averages the curve over this radius range
CURVE_POINTS = 30           # log-spaced k values reported on the curve (fewer when k_max is small)
MIN_PARTICLES = 3           # a nearest neighbour and a rank need at least two other particles
_BLOCK_ELEMENTS = 1 << 22   # rows x columns per chunk: each chunk array <= 4 M entries (32 MB float64)


@dataclass(frozen=True, eq=False)
class LatentMetrics:
    """CryoBench's latent metrics of one output, computed on a subsample.

    ``n_particles``: rows given; ``n_used``: particles in the subsample the metrics describe;
    ``seed``: the subsample's seed; ``output_dims``: d, all of them used.
    ``k``: (K,) int, neighbourhood sizes of the curve (1 .. k_max, log-spaced);
    ``radius``: (K,) k / (n_used - 1), CryoBench's "neighbourhood radius" as a fraction;
    ``similarity``: (K,) mean fraction of shared neighbours, 0..1; ``chance``: (K,) its value
    for an output unrelated to the truth (= radius).
    ``similarity_summary``: mean similarity over radius 1 % .. 10 % (module docstring), 0..1.
    ``imbalance_truth_to_output``, ``imbalance_output_to_truth``: Delta, 2 / n_used .. ~1.
    """

    n_particles: int
    n_used: int
    seed: int
    output_dims: int
    k: np.ndarray
    radius: np.ndarray
    similarity: np.ndarray
    chance: np.ndarray
    similarity_summary: float
    imbalance_truth_to_output: float
    imbalance_output_to_truth: float

    def as_dict(self) -> dict:
        """Plain Python types, for ``--json`` and the report."""
        return {
            "n_particles": self.n_particles, "n_used": self.n_used, "seed": self.seed,
            "output_dims": self.output_dims,
            "neighbourhood_similarity": {
                "summary": self.similarity_summary,
                "summary_radius_range": list(SUMMARY_RADII),
                "k": self.k.tolist(), "radius": self.radius.tolist(),
                "similarity": self.similarity.tolist(), "chance": self.chance.tolist(),
            },
            "information_imbalance": {
                "truth_to_output": self.imbalance_truth_to_output,
                "output_to_truth": self.imbalance_output_to_truth,
            },
        }


def latent_metrics(truth_deg, output, *, n_subsample: int = DEFAULT_SUBSAMPLE, seed: int = 0,
                   progress=None, should_stop=None, log=None) -> LatentMetrics | None:
    """Neighbourhood similarity and information imbalance of ``output`` against ``truth_deg``.

    truth_deg: (N, 2) true (cc1, cc2) in degrees; output: (N, d) the method's coordinates for
    the same particles in the same order (d >= 1, all used). ``n_subsample``: particles drawn
    (without replacement, seeded by ``seed``) when N is larger. A job function (engine habit 7):
    ``progress(fraction)``, ``should_stop()`` (returns None when it became true), ``log(str)``.
    Raises ValueError on mismatched shapes, non-finite rows or fewer than 3 particles.
    """
    truth = _coordinates(truth_deg, "truth_deg")
    out = _coordinates(output, "output")
    if truth.shape[1] != 2:
        raise ValueError(f"truth_deg: expected (N, 2) true (cc1, cc2), got shape {truth.shape}")
    if len(out) != len(truth):
        raise ValueError(f"output has {len(out)} rows but truth_deg has {len(truth)}: "
                         "they must be the same particles in the same order")
    if n_subsample < MIN_PARTICLES:
        raise ValueError(f"n_subsample: must be >= {MIN_PARTICLES} (got {n_subsample})")
    if len(truth) < MIN_PARTICLES:
        raise ValueError(f"{len(truth)} particles: the latent metrics need at least {MIN_PARTICLES}")
    n_particles = len(truth)
    pick = subsample(n_particles, n_subsample, seed)
    truth, out = truth[pick], out[pick]
    if log:
        log(f"latent metrics on {len(pick):,} of {n_particles:,} particles (seed {seed})")

    k_max = max_k(len(pick))
    steps = iter((0.45, 0.9, 1.0))

    def step_done() -> bool:
        if progress:
            progress(next(steps))
        return bool(should_stop and should_stop())

    overlap = _overlap_counts(truth, out, k_max)
    if step_done():
        return None
    to_out, to_truth = information_imbalance(truth, out)
    if step_done():
        return None
    all_k = np.arange(1, k_max + 1)
    curve = overlap / (len(pick) * all_k)
    radius = all_k / (len(pick) - 1)
    in_summary = (radius >= SUMMARY_RADII[0] - 1e-12) & (radius <= SUMMARY_RADII[1] + 1e-12)
    if not in_summary.any():  # a tiny subsample: its smallest neighbourhood already exceeds 1 %
        in_summary[0] = True
    shown = curve_k(k_max) - 1
    result = LatentMetrics(
        n_particles=n_particles, n_used=len(pick), seed=int(seed), output_dims=out.shape[1],
        k=all_k[shown], radius=radius[shown], similarity=curve[shown], chance=radius[shown],
        similarity_summary=float(curve[in_summary].mean()),
        imbalance_truth_to_output=to_out, imbalance_output_to_truth=to_truth)
    step_done()
    return result


def subsample(n_particles: int, n_subsample: int, seed: int) -> np.ndarray:
    """(min(n_particles, n_subsample),) int64 row indices in a seeded random order.

    Also permuted when every particle is kept: the order is the tie-break (module docstring)."""
    rng = np.random.default_rng(seed)
    if n_particles <= n_subsample:
        return rng.permutation(n_particles)
    return rng.choice(n_particles, n_subsample, replace=False)


def max_k(n: int) -> int:
    """Largest k on the curve for n particles: 10 % of the n - 1 others, at least 1."""
    return max(1, int(MAX_RADIUS * (n - 1)))


def curve_k(k_max: int) -> np.ndarray:
    """(K,) int, the k reported on the curve: log-spaced from 1 to ``k_max``, both included."""
    return np.unique(np.round(np.geomspace(1, k_max, CURVE_POINTS)).astype(np.int64))


def neighbourhood_similarity(a, b, k_max: int) -> np.ndarray:
    """(k_max,) mean fraction of shared neighbours for k = 1 .. k_max, on all rows given.

    a: (n, da), b: (n, db) the same n points in two spaces (no subsampling here; Euclidean, self
    excluded, ties by row position). Entry k - 1 is the mean over i of |N_a^k(i) & N_b^k(i)| / k.
    """
    a, b = _coordinates(a, "a"), _coordinates(b, "b")
    if len(b) != len(a):
        raise ValueError(f"a, b: need the same points in both spaces (got {len(a)} and {len(b)} rows)")
    if not 1 <= k_max <= len(a) - 1:
        raise ValueError(f"k_max: must be 1..{len(a) - 1} for {len(a)} points (got {k_max})")
    return _overlap_counts(a, b, k_max) / (len(a) * np.arange(1, k_max + 1))


def information_imbalance(a, b) -> tuple[float, float]:
    """(Delta(a -> b), Delta(b -> a)) of Glielmo et al. on all rows given (no subsampling).

    a: (n, da), b: (n, db) the same n points in two spaces. Exact: each row of squared
    distances is computed once per space in chunks of rows (memory O(chunk x n), time
    O(n^2 (da + db))); the nearest neighbour is the first minimum (ties to the lower row) and
    the rank counts the points strictly closer plus the tied ones at lower rows, plus one.
    """
    a, b = _coordinates(a, "a"), _coordinates(b, "b")
    n = len(a)
    if n < MIN_PARTICLES or len(b) != n:
        raise ValueError(f"a, b: need the same number of points, at least {MIN_PARTICLES} "
                         f"(got {n} and {len(b)})")
    rank_sum_ab = rank_sum_ba = 0
    chunk = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, n, chunk):
        rows = np.arange(start, min(n, start + chunk))
        dist_a = cdist(a[rows], a, "sqeuclidean")
        dist_b = cdist(b[rows], b, "sqeuclidean")
        local = np.arange(len(rows))
        dist_a[local, rows] = np.inf  # a point is not its own neighbour
        dist_b[local, rows] = np.inf
        rank_sum_ab += int(_ranks_of(dist_b, np.argmin(dist_a, axis=1)).sum())
        rank_sum_ba += int(_ranks_of(dist_a, np.argmin(dist_b, axis=1)).sum())
    return 2.0 * rank_sum_ab / n ** 2, 2.0 * rank_sum_ba / n ** 2


def _ranks_of(dist: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(rows,) rank (1 = nearest) of column ``target[r]`` in each row of ``dist`` (rows, n),
    ordering by (distance, column)."""
    local = np.arange(len(dist))
    ref = dist[local, target][:, None]
    closer = (dist < ref).sum(axis=1)
    level = (dist <= ref).sum(axis=1)
    ranks = level.copy()
    for r in np.flatnonzero(level - closer > 1):  # ties at the target's distance: rare
        ranks[r] = closer[r] + 1 + int((dist[r, :target[r]] == ref[r, 0]).sum())
    return ranks


def _overlap_counts(a: np.ndarray, b: np.ndarray, k_max: int) -> np.ndarray:
    """(k_max,) int64: entry k - 1 is the sum over points of |N_a^k(i) & N_b^k(i)|.

    One k_max-neighbour list per point and space gives every k at once: neighbour a_p (p-th
    in space a) is shared at k exactly when k > max(p, q), q its position in b's list."""
    n = len(a)
    tree_a, tree_b = cKDTree(a), cKDTree(b)
    counts = np.zeros(k_max + 2, np.int64)
    chunk = max(1, _BLOCK_ELEMENTS // max(n, k_max + 2))
    position = np.arange(k_max)
    scratch = np.full((min(chunk, n), n), k_max, np.int32)  # k_max: not in b's list
    for start in range(0, n, chunk):
        rows = np.arange(start, min(n, start + chunk))
        near_a = _neighbours(tree_a, a, rows, k_max)
        near_b = _neighbours(tree_b, b, rows, k_max)
        local = np.arange(len(rows))[:, None]
        scratch[local, near_b] = position
        shared_from = np.maximum(position, scratch[local, near_a]) + 1
        scratch[local, near_b] = k_max  # clean for the next chunk, cheaper than a new array
        counts += np.bincount(shared_from.ravel(), minlength=k_max + 2)
    return np.cumsum(counts[1:k_max + 1])


def _neighbours(tree: cKDTree, x: np.ndarray, rows: np.ndarray, k_max: int) -> np.ndarray:
    """(len(rows), k_max) int64: each row's k_max nearest other points, by (distance, index)."""
    want = min(k_max + 2, len(x))
    dist, index = tree.query(x[rows], k=want, workers=-1)
    near = index[:, 1:k_max + 1].copy()
    # The tree's order among equal distances is unspecified; without any equal pair in a row
    # (continuous data: every row) self is first and the order is already (distance, index).
    tied = np.flatnonzero((dist[:, 1:] == dist[:, :-1]).any(axis=1))
    if tied.size:
        near[tied] = _neighbours_with_ties(tree, x, rows[tied], dist[tied], index[tied], k_max)
    return near


def _neighbours_with_ties(tree: cKDTree, x: np.ndarray, rows: np.ndarray, dist: np.ndarray,
                          index: np.ndarray, k_max: int) -> np.ndarray:
    """``_neighbours`` for rows with equal distances: re-sort each list by (distance, index) and
    drop self. A list is exact when its k_max-th distance is below the last one the tree
    returned (every point at most that far is then in it); where a tie straddles the end (or
    so many duplicates that self was left out) the row is redone from every point that near."""
    want = dist.shape[1]
    order = np.lexsort((index, dist), axis=-1)
    dist = np.take_along_axis(dist, order, axis=-1)
    index = np.take_along_axis(index, order, axis=-1)
    is_self = index == rows[:, None]
    has_self = is_self.any(axis=1)
    # drop self where present, else the last entry, to keep want - 1 per row
    keep = np.ones_like(is_self)
    keep[np.arange(len(rows)), np.where(has_self, is_self.argmax(axis=1), want - 1)] = False
    dist = dist[keep].reshape(len(rows), want - 1)
    near = index[keep].reshape(len(rows), want - 1)[:, :k_max]
    if want == len(x):  # the tree returned every point: each list is complete
        return near
    for r in np.flatnonzero(~has_self | (dist[:, k_max - 1] >= dist[:, -1])):
        near[r] = _neighbours_exact(tree, x, rows[r], dist[r, k_max - 1], k_max)
    return near


def _neighbours_exact(tree: cKDTree, x: np.ndarray, i: int, reach: float, k_max: int) -> np.ndarray:
    """(k_max,) the k_max nearest other points of point ``i``, by (distance, index), given that
    the k_max-th is about ``reach`` away (widened a little against rounding in the tree)."""
    candidates = np.asarray(tree.query_ball_point(x[i], reach * (1 + 1e-9) + 1e-300), np.int64)
    candidates = candidates[candidates != i]
    d = np.sqrt(((x[candidates] - x[i]) ** 2).sum(axis=1))
    return candidates[np.lexsort((candidates, d))[:k_max]]


def _coordinates(values, name: str) -> np.ndarray:
    """``values`` as a float64 (N, d) array; refuses other shapes and non-finite rows."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"{name}: expected an (N, d) array of coordinates, got shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        first = ", ".join(str(int(r)) for r in bad[:5])
        raise ValueError(f"{name}: {bad.size} of {len(x)} rows have NaN or infinite coordinates "
                         f"(first rows {first}); pass only the particles the output scored")
    return x
