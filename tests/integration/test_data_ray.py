"""The Ray Data view of a dataset gives the same episodes as the numpy reader."""

from __future__ import annotations

import numpy as np

from rayeaq.data.ray_io import read_ray_dataset
from rayeaq.data.reader import load_dataset


def test_ray_dataset_matches_reader(ray_local, real_3m_poor_dataset):
    reference = load_dataset(real_3m_poor_dataset).episodes
    ds = read_ray_dataset(real_3m_poor_dataset)
    assert ds.count() == len(reference)
    rows = ds.take_batch(batch_size=len(reference), batch_format="numpy")
    order = np.argsort(rows["episode_id"])
    for name in ("obs", "state", "avail_actions", "actions", "reward", "filled", "terminated"):
        assert rows[name].shape == getattr(reference, name).shape, name
        assert np.array_equal(rows[name][order], getattr(reference, name)), name
    assert np.allclose(rows["return"][order], reference.episode_return)
