"""What each strategy promises to reach: the coverage buckets a cell drawing from it must see.

A strategy function registers its strategy with the buckets it can reach in any run
(`reaching`); the plugin asks (`reach`), and once a cell's drawn examples are done it draws a few
more, aimed at each promised bucket they missed: the same strategy function built with caps whose
`aim` names the bucket (`narrowed` keeps only the choices that reach it). Buckets a strategy
reaches only now and then (a special value, a rank) are not promised.
"""

from hypothesis import strategies as st

_REACH: dict[st.SearchStrategy, frozenset[str]] = {}


def reaching(strategy: st.SearchStrategy, buckets) -> st.SearchStrategy:
    """Register `strategy` as reaching `buckets`; returns it."""
    _REACH[strategy] = frozenset(buckets)
    return strategy


def reach(strategy: st.SearchStrategy) -> frozenset[str]:
    """The buckets `strategy` promises (none when it promises nothing)."""
    return _REACH.get(strategy, frozenset())


def narrowed(aim: str | None, kind: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """`names`, or only the one that `aim` names when it is a bucket of this kind
    (aim "layout fortran", kind "layout" -> ("fortran",))."""
    for name in names:
        if aim == f"{kind} {name}":
            return (name,)
    return names
