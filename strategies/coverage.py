"""What each strategy promises to reach: the coverage buckets a cell drawing from it must see.

A strategy function decorated `promising` says which buckets its strategy reaches in any run
(`reaching`). Whatever is built from promising strategies promises what they do, however it
composes them (`.map`, `.filter`, `st.tuples`, `st.one_of`): `built` collects the promises of every
promising strategy made while it builds one. The plugin builds each property's strategy so, and
once a cell's drawn examples are done it draws a few more, aimed at each promised bucket they
missed: the same strategy built with caps whose `aim` names the bucket (`narrowed` keeps only the
choices that reach it). Buckets a strategy reaches only now and then (a special value, a rank) are
not promised.
"""

import functools
from collections.abc import Callable, Iterable

from hypothesis import strategies as st

#: the buckets noted by each build in progress (`built`), innermost last
_BUILDING: list[set[str]] = []


def _note(buckets: Iterable[str]) -> None:
    for noted in _BUILDING:
        noted.update(buckets)


def reaching(strategy: st.SearchStrategy, buckets: Iterable[str]) -> st.SearchStrategy:
    """`strategy`, promising `buckets` (within a promising function); returns it."""
    _note(buckets)
    return strategy


def derived(strategy: st.SearchStrategy, base: st.SearchStrategy) -> st.SearchStrategy:
    """`strategy`, which draws from `base` and promises what it does: `base`, made in the same
    build, has noted its promises."""
    return strategy


def built(build: Callable[..., st.SearchStrategy], *args, **kwargs):
    """`build(*args, **kwargs)` and the buckets it promises (a frozenset): those of every promising
    strategy made during the build, whatever the build did with them."""
    noted: set[str] = set()
    _BUILDING.append(noted)
    try:
        strategy = build(*args, **kwargs)
    finally:
        _BUILDING.pop()
    _note(noted)  # a build within a build promises to the outer one too
    return strategy, frozenset(noted)


def promising(function: Callable[..., st.SearchStrategy]) -> Callable[..., st.SearchStrategy]:
    """A strategy function whose strategy is made once per argument set (making and validating a
    strategy costs more than drawing from it), and whose every call notes what it promises into
    the builds in progress."""
    made = functools.cache(functools.partial(built, function))

    @functools.wraps(function)
    def call(*args, **kwargs):
        strategy, promises = made(*args, **kwargs)
        _note(promises)
        return strategy

    return call


def narrowed(aim: str | None, kind: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """`names`, or only the one that `aim` names when it is a bucket of this kind
    (aim "layout fortran", kind "layout" -> ("fortran",))."""
    for name in names:
        if aim == f"{kind} {name}":
            return (name,)
    return names
