"""scikit-learn's handwritten digits as rate-coded spike trains.

``load_digits`` ships inside scikit-learn (1,797 images, 8 x 8 pixels, intensities 0..16, 10
classes); nothing is downloaded.  Rate code: each pixel spikes at each of ``T`` steps
independently (Bernoulli) with probability ``MAX_P * intensity / 16``, from a fixed seed.
"""

from __future__ import annotations

import numpy as np

T_STEPS = 20
MAX_P = 0.5  # spike probability per step of a full-intensity (16) pixel
TEST_FRACTION = 0.2


def rate_code(images: np.ndarray, steps: int = T_STEPS, seed: int = 0) -> np.ndarray:
    """``[N, *shape]`` intensities 0..16 -> ``[N, steps, *shape]`` uint8 spikes (Bernoulli per step)."""
    rng = np.random.default_rng(seed)
    p = MAX_P * np.asarray(images, dtype=np.float64) / 16.0
    draws = rng.random((p.shape[0], steps, *p.shape[1:]))
    return (draws < p[:, None]).astype(np.uint8)


def digit_spikes(steps: int = T_STEPS, seed: int = 0, image: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified train/test split (80/20, fixed seed) as spikes.

    Returns ``x_train [N, T, 64]``, ``y_train [N]``, ``x_test``, ``y_test`` (``[N, T, 1, 8, 8]`` with
    ``image=True``); spikes uint8, labels int64.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    shape = (1, 8, 8) if image else (64,)
    images = digits.images.reshape(-1, *shape)
    i_train, i_test = train_test_split(np.arange(len(images)), test_size=TEST_FRACTION,
                                       stratify=digits.target, random_state=seed)
    x_train = rate_code(images[i_train], steps, seed)
    x_test = rate_code(images[i_test], steps, seed + 1)
    return x_train, digits.target[i_train].astype(np.int64), x_test, digits.target[i_test].astype(np.int64)
