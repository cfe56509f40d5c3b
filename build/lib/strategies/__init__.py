"""What Hypothesis draws: shapes, value families, whole cases, backward and special-value examples.

It imports the core (`conformance.core`) only.
"""

from strategies.cases import Caps, Case, cases, rank1_cases
from strategies.specials import special_cases, subnormal_cases

__all__ = ["Caps", "Case", "cases", "rank1_cases", "special_cases", "subnormal_cases"]
