"""What Hypothesis draws: shapes, value families, whole cases, backward and special-value examples.

It imports the core (`conformance.core`) only.
"""

from strategies.cases import Caps, Case, draw_case, draw_rank1_case
from strategies.specials import draw_special_case, draw_subnormal_case

__all__ = [
    "Caps",
    "Case",
    "draw_case",
    "draw_rank1_case",
    "draw_special_case",
    "draw_subnormal_case",
]
