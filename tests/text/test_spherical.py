"""Choosing k on the driver: spherical k-means and the cosine silhouette, by hand (D110)."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.linalg import SparseVector

from crm_spark.text.spherical import cosine_silhouette, silhouettes_by_k, spherical_kmeans, to_matrix

# two directions, three texts each: (1, 0, 0) and (0, 0.6, 0.8)
ROWS = [SparseVector(3, {0: 1.0})] * 3 + [SparseVector(3, {1: 0.6, 2: 0.8})] * 3


def test_sparse_vectors_become_a_matrix():
    assert to_matrix(ROWS).toarray().tolist() == [[1.0, 0.0, 0.0]] * 3 + [[0.0, 0.6, 0.8]] * 3


def test_two_directions_are_two_clusters_with_silhouette_one():
    labels = spherical_kmeans(to_matrix(ROWS), 2, np.random.default_rng(0))
    assert len(set(labels[:3])) == 1 and len(set(labels[3:])) == 1 and labels[0] != labels[3]
    # within a cluster the distance is 0, across it is 1 - 0 = 1: (1 - 0) / 1 for every text
    assert cosine_silhouette(to_matrix(ROWS), labels) == pytest.approx(1.0)


def test_silhouette_by_hand_for_a_mixed_cluster():
    # cluster 0 = {e1, e1, f}, cluster 1 = {f, f, f} where e1 . f = 0 (distance 1)
    matrix = to_matrix([ROWS[0], ROWS[0], ROWS[3], ROWS[3], ROWS[3], ROWS[3]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    # e1 rows: a = (0 + 1) / 2, b = 1 -> 0.5; the f in cluster 0: a = (1 + 1) / 2 = 1, b = 0 -> -1;
    # cluster 1 rows: a = 0, b = (1 + 1 + 0) / 3 = 2/3 -> 1
    assert cosine_silhouette(matrix, labels) == pytest.approx((0.5 + 0.5 - 1 + 3) / 6)


def test_the_silhouette_prefers_the_k_of_the_data():
    scores = silhouettes_by_k(to_matrix(ROWS), 2, 3, seed=1)
    # a third cluster has no text of its own: it cannot do better than two
    assert scores[2] == pytest.approx(1.0) and scores[3] <= scores[2]
