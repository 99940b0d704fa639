"""Choosing the number of themes on the driver: spherical k-means and the cosine silhouette.

The theme model is fitted on a sample of at most a few ten thousand short texts, a sparse
matrix of a few megabytes. Trying every k with Spark ML costs one Spark job per k-means
iteration and per silhouette pass, most of it scheduling (about 58 s for k 4..10 on 20,000
texts, D110); the same search in NumPy on the collected sample takes a second or two. Spark ML
then fits the chosen k once, so the model that is logged and applied is Spark's.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

SILHOUETTE_SAMPLE = 2000   # texts the silhouette is measured on (an n x n distance matrix)
MAX_ITER = 30


def to_matrix(vectors: list) -> sparse.csr_matrix:
    """Rows of pyspark ``SparseVector`` (same size) as a CSR matrix."""
    indptr, indices, data = [0], [], []
    for vector in vectors:
        indices.extend(vector.indices)
        data.extend(vector.values)
        indptr.append(len(indices))
    return sparse.csr_matrix((data, indices, indptr), shape=(len(vectors), vectors[0].size))


def spherical_kmeans(matrix: sparse.csr_matrix, k: int, rng: np.random.Generator) -> np.ndarray:
    """Cluster labels of the rows (unit length) by k-means with cosine similarity, seeded like
    k-means++ (a next centre is drawn with probability proportional to its cosine distance)."""
    n = matrix.shape[0]
    chosen = [int(rng.integers(n))]
    distance = 1.0 - (matrix @ matrix[chosen[0]].T).toarray().ravel()
    for _ in range(1, k):
        weights = np.clip(distance, 0.0, None)
        total = weights.sum()
        chosen.append(int(rng.choice(n, p=weights / total)) if total > 0 else int(rng.integers(n)))
        distance = np.minimum(distance, 1.0 - (matrix @ matrix[chosen[-1]].T).toarray().ravel())
    centres = matrix[chosen].toarray()
    labels = np.full(n, -1)
    for _ in range(MAX_ITER):
        new_labels = np.asarray((matrix @ centres.T).argmax(axis=1)).ravel()
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        members = sparse.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))
        sums = np.asarray((members @ matrix).todense())
        norms = np.linalg.norm(sums, axis=1)
        filled = norms > 0                       # an emptied cluster keeps its centre
        centres[filled] = sums[filled] / norms[filled, None]
    return labels


def cosine_silhouette(matrix: sparse.csr_matrix, labels: np.ndarray) -> float:
    """Mean silhouette of the rows with cosine distance; a point alone in its cluster counts 0."""
    distance = np.clip(1.0 - (matrix @ matrix.T).toarray(), 0.0, None)
    clusters = np.unique(labels)
    if len(clusters) < 2:
        return 0.0
    sums = np.stack([distance[:, labels == c].sum(axis=1) for c in clusters], axis=1)
    sizes = np.array([(labels == c).sum() for c in clusters])
    own = np.searchsorted(clusters, labels)
    rows = np.arange(len(labels))
    own_size = sizes[own] - 1
    a = np.divide(sums[rows, own], own_size, out=np.zeros(len(labels)), where=own_size > 0)
    mean_to = sums / sizes
    mean_to[rows, own] = np.inf
    b = mean_to.min(axis=1)
    score = np.divide(b - a, np.maximum(a, b), out=np.zeros(len(labels)), where=np.maximum(a, b) > 0)
    return float(np.where(own_size > 0, score, 0.0).mean())


def silhouettes_by_k(matrix: sparse.csr_matrix, k_min: int, k_max: int, seed: int) -> dict[int, float]:
    """The cosine silhouette of a spherical k-means for each k in ``[k_min, k_max]``, measured on
    at most ``SILHOUETTE_SAMPLE`` rows (the same rows for every k)."""
    rng = np.random.default_rng(seed)
    probe = np.sort(rng.choice(matrix.shape[0], min(SILHOUETTE_SAMPLE, matrix.shape[0]), replace=False))
    scores = {}
    for k in range(k_min, k_max + 1):
        labels = spherical_kmeans(matrix, k, np.random.default_rng(seed))
        scores[k] = cosine_silhouette(matrix[probe], labels[probe])
    return scores
