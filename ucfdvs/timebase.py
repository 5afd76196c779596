"""The time base of UCF-Crime-DVS: one snippet is 16 video frames at 30 fps.

Every layer that needs the snippet length takes it from here.
"""

from __future__ import annotations

FRAMES_PER_SNIPPET = 16
"""Video frames (30 fps) per feature snippet."""

SNIPPET_US = 533_328
"""One snippet in microseconds (16 frames at 30 fps, as the release's event frames are cut)."""

SNIPPET_S = SNIPPET_US * 1e-6
"""One snippet in seconds (0.533328 s): the NIR time step ``dt`` of the exported MSF."""
