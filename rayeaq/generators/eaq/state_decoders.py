"""The state-derived layout's decoder of each backend (``diffusion.layout: state``): its simulator computes what
the generator does not produce. Each member imports its simulator only when called."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rayeaq.generators.eaq.layout import Decoded, Layout
from rayeaq.generators.eaq.normalizer import Normalizer


def _smax(x_raw: np.ndarray, layout: Layout, norm: Normalizer) -> Decoded:
    from rayeaq.generators.eaq.state_layout import decode_state_layout

    return decode_state_layout(x_raw, layout, norm)


def _mpe(x_raw: np.ndarray, layout: Layout, norm: Normalizer) -> Decoded:
    from rayeaq.generators.eaq.mpe_state_layout import decode_mpe_state

    return decode_mpe_state(x_raw, layout, norm)


STATE_DECODERS: dict[str, Callable[[np.ndarray, Layout, Normalizer], Decoded]] = {"smax": _smax, "mpe": _mpe}
"""``backend -> decode(x_raw [B, F, H], layout, norm) -> Decoded`` (backends in ``layout.STATE_BACKENDS``)."""
