"""The judge: for one cell, whether what a subject did passes, is a known divergence, or fails.

It holds each subject's contract on each device (and the looser contracts a result past it may
fit, composed: `contract.Judgement`) and the registry entries the cell reaches. A comparison
(`compare`) spends a subject's budget against its contract; a result past it that fits a looser
contract, or a composition of them, is an observation, known where applicable entries explain
every code of a composition that fits, a failure naming the smallest compositions that fit (or
none: the bound left, by how much, where) elsewhere. Any other observation (`observe`: a raise, a
result dtype, ...) is known or a failure the same way. The judge decides; the cell records.
"""

import functools
from dataclasses import dataclass, field, replace

import numpy as np

from conformance.core import oracle
from conformance.core.budget import Verdict, assess, limit, overspend_message
from conformance.core.contract import Judgement
from conformance.core.formats import compute_format
from conformance.core.observation import ARITHMETIC, Code, Observation, Quantity
from conformance.core.registry import Divergence


@dataclass(frozen=True)
class Finding:
    """What one comparison or observation came to: the verdict against the strict contract (a
    comparison's), and either nothing more (it passes), the entries that explain it (`known`),
    or a failure (`failure`: its message; `evidence`: what its reproducer keeps)."""

    verdict: Verdict | None = None
    known: tuple[Divergence, ...] = ()
    failure: str | None = None
    evidence: dict = field(default_factory=dict)


class Judge:
    """Pass, known divergence or failure, for one cell (see the module's docstring)."""

    def __init__(
        self,
        dtype: str,
        judgements: dict[tuple[str, str], Judgement],
        entries: tuple[Divergence, ...] = (),
    ):
        self.dtype = dtype
        #: (subject label, device) -> the contract held there and its looser ones
        self.judgements = judgements
        #: the registry entries the cell can reach
        self.entries = entries

    def judged(self, label: str, device: str) -> Judgement:
        return self.judgements[label, device]

    def explains(self, observation: Observation) -> tuple[Divergence, ...] | None:
        """The entries that together explain every code of `observation` here, or None."""
        found = []
        for code in observation.codes:
            entry = next((e for e in self.entries if e.explains(code, observation)), None)
            if entry is None:
                return None
            found.append(entry)
        return tuple(dict.fromkeys(found))

    def observe(self, who: str, observation: Observation, context: str = "") -> Finding:
        """`who` did not behave as the property claims: known where the registry explains the
        observation, else a failure saying what was observed (then `context`)."""
        entries = self.explains(observation)
        if entries is not None:
            return Finding(known=entries)
        message = (
            f"{who} {observation.text}, which no registry entry allows here [{observation.names()}]"
        )
        return Finding(failure=f"{message}: {context}" if context else message)

    def compare(
        self,
        who: str,
        quantity: Quantity,
        got,
        expected,
        bound_for=None,
        *,
        device: str,
        exact: bool = False,
        label: str | None = None,
    ) -> Finding:
        """|got - expected| against the bound of the contract `who` is held to on `device`.

        `expected` is an oracle Reference (bound: the contract's bound around it), or an array
        with `bound_for(contract)` deriving its bound. With `exact` (a Reference whose every
        product and partial sum is exact), a contract that reads operands exactly claims the exact
        result, and one that does not (flush-to-zero, TF32, float32 evaluation) can only lose part
        of each term: its result lies between the sum of the negative terms and the positive ones.
        """
        if exact:
            judge = functools.partial(_exact, expected)
        else:
            if bound_for is None:
                expected, bound_for = expected.value, functools.partial(limit, expected)
            judge = functools.partial(_around, expected, bound_for)
        label = label or quantity.value
        judged = self.judged(who, device)
        centre, bound = judge(judged.contract)
        verdict = assess(got, centre, bound, self.dtype)
        if verdict.budget_used <= 1:
            return Finding(verdict)
        evidence = {"verdict": verdict.as_dict(), "what": label, "expected": centre,
                    "bound": bound, "got": got}  # fmt: skip
        overspent = overspend_message(who, label, verdict)
        fitting = self._fitting(judged, judge, got, centre, quantity, device, label)
        for observation in fitting:
            entries = self.explains(observation)
            if entries is not None:
                return Finding(verdict, known=entries)
        if not fitting:
            return Finding(verdict, failure=overspent, evidence=evidence)
        least = min(len(o.codes) for o in fitting)
        either = _either([o for o in fitting if len(o.codes) == least])
        finding = self.observe(who, either, overspent)
        return replace(finding, verdict=verdict, evidence=evidence)

    def _fitting(self, judged, judge, got, centre, quantity, device, label) -> list[Observation]:
        """The observations a result past its contract fits: every composition of looser
        contracts it stays within, fewest codes first. NaN or Inf where the exact result is finite
        and a contract bounds it is an observation of its own (nan-inf-position), which no
        arithmetic explains: the other elements are judged without those."""
        got64 = np.asarray(got, np.float64)
        wrong = ~np.isfinite(got64) & np.isfinite(centre)
        candidates = list(judged.compositions())
        if wrong.any():
            candidates.insert(0, (frozenset(), judged.contract))
        fitting = []
        for codes, contract in candidates:
            c_centre, c_bound = judge(contract)
            flagged = wrong & np.isfinite(c_bound)
            trial = np.where(flagged, c_centre, got64) if flagged.any() else got
            if assess(trial, c_centre, c_bound, contract.dtype).budget_used > 1:
                continue
            text, detail = _describe(codes, label, self.dtype), None
            if flagged.any():
                text, detail = _non_finite(text, got64, flagged)
                codes = codes | {Code.NAN_INF_POSITION}
            if codes:  # no codes: within the contract after all (what it admits past its range)
                fitting.append(Observation(codes, text, detail, quantity, device))
        return fitting


def _non_finite(text: str, got64: np.ndarray, wrong: np.ndarray) -> tuple[str, str]:
    """The observation's text with the NaN/Inf it puts where the exact result is finite, and
    its detail (NaN-for-finite, +Inf-for-finite, -Inf-for-finite)."""
    index = tuple(int(i) for i in np.argwhere(wrong)[0])
    found = int(oracle.classes(got64[index]))
    where = (
        f"puts {oracle.CLASS_NAMES[found]} at element {list(index)} where the exact result is "
        f"finite ({int(wrong.sum())} of {wrong.size} elements)"
    )
    return " and ".join(filter(None, [where, text])), f"{oracle.SHORT_NAMES[found]}-for-finite"


def _around(expected, bound_for, contract) -> tuple:
    """The contract's bound around `expected`."""
    return expected, bound_for(contract)


def _exact(reference, contract) -> tuple:
    """For an exact construction: the exact result where operands are read exactly; else the
    interval of results that keep part of each term, [negative terms, positive terms] = within
    M/2 of y/2."""
    if contract.reads_exactly:
        return reference.value, np.zeros(reference.value.shape)
    return reference.value / 2, reference.magnitude / 2


#: what a result fits, per looser contract (named only when the result fits it)
_FITS = {
    Code.FLOAT32_EVALUATION: "a float32 evaluation",
    Code.TF32: "TF32 operands",
    Code.DIRECTED_ROUNDING: "results rounded in one direction (toward zero, say), not to nearest",
    Code.REDUCED_ACCUMULATION: "accumulation in {compute}",
    Code.FLUSH_TO_ZERO: "subnormal operands read as zero",
}


def _describe(codes: frozenset[Code], label: str, dtype: str) -> str:
    """What a result past its bound fits: "has its forward past its float32 bound; that fits
    TF32 operands" (empty without codes)."""
    if not codes:
        return ""
    compute = compute_format(dtype).name  # a policy accumulates in its compute format
    fits = " with ".join(_FITS[c].format(compute=compute) for c in ARITHMETIC if c in codes)
    return f"has its {label} past its {dtype} bound; that fits {fits}"


def _either(observations: list[Observation]) -> Observation:
    """One observation naming every smallest composition a result fits ("that fits accumulation
    in float16, or results rounded in one direction"): the evidence does not tell them apart."""
    first, *others = observations
    if not others:
        return first
    fits = [o.text.partition("; that fits ")[2] for o in observations]
    if not all(fits):  # not all of the one form: the first says what was seen
        return first
    text = f"{first.text.partition('; that fits ')[0]}; that fits {', or '.join(fits)}"
    shown = " | ".join(o.names() for o in observations)
    return replace(first, text=text, shown=shown)
