"""Contracts (precision assumptions per subject x dtype x device) and the error bound they imply.

For y_j = sum_i a_i b_ji + c_j over n terms, with operands read on the device with relative error
u_in and absolute error eta_in (operands below the evaluation format's smallest normal may be
rounded there or read as zero), accumulated with u_acc and rounded to the output with u_out
(Higham, 2nd ed., section 3.1):

    E     = g*M + (1 + gamma_{n+1}(u_acc))*(eta_in*(1+u_in)*S + (n+1)*eta_in^2 + eta_in) + (n+2)*eta_acc
    g     = gamma_{n+1}(u_acc)*(1+u_in)^2 + 2*u_in + u_in^2
    bound = (1+u2)*(E + r*u_out*(M+E) + eta_out) + u2*|y| + eta_out,   u2 = u_out + u_acc + u_out*u_acc

with M = |a||b|^T + |c| and S = sum_i |a_i|[|b_i| < tiny] + [|a_i| < tiny]|b_i| (the products an
operand's absolute error can move). r = 1 when the output format is narrower than the
accumulator: the matmul result may then be rounded to the output once before the bias is added
and once after (Keras adds the bias as its own op), so both a fused and a split bias add stay
inside the bound. The eta terms cover underflow and flush-to-zero. The oracle's own error
gamma_{n+1}(u_oracle)*M is added, |y| is taken from the oracle plus that error, and the bound is
widened for the rounding of its own evaluation, so it cannot false-alarm. Where an operand or M
passes the largest value of the format the contract evaluates in (float32 for a float64 evaluated
in float32), that evaluation may overflow: the bound admits any result there.

A looser contract is a transform of a contract, one per arithmetic observation code; transforms
compose (`Judgement`), so a result can be recognised as float32 evaluation with TF32 operands.
"""

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from conformance.core.formats import (
    FORMATS,
    POLICIES,
    TF32_U,
    compute_format,
    variable_format,
)
from conformance.core.observation import ARITHMETIC, Code
from conformance.core.oracle import Reference

F32 = FORMATS["float32"]


@dataclass(frozen=True)
class Contract:
    """Precision assumptions of one subject x dtype x device."""

    dtype: str  # format of the operands as stored and of the result
    device: str
    evaluation: (
        str  # format the operands are read in: dtype, or float32 for a float64 run in float32
    )
    u_in: float  # relative error of reading an operand on the device (0: used as stored)
    eta_in: (
        float  # absolute error of reading an operand below the evaluation format's smallest normal
    )
    u_acc: float  # unit roundoff of the accumulation
    u_out: float  # unit roundoff of the output
    eta_acc: float  # smallest normal of the accumulation format
    eta_out: float  # smallest normal of the output format
    basis: str  # why these assumptions hold
    #: a mixed-precision policy's rounding of its float32 operands to the compute format, before
    #: the device reads them: relative error, and absolute error below the compute format's
    #: smallest normal (0, 0 without a policy)
    u_cast: float = 0.0
    eta_cast: float = 0.0
    #: how results are rounded to their format: "nearest" (IEEE's default: errors up to half a
    #: unit in the last place) or "directed" (toward zero, say: up to a whole unit)
    rounding: str = "nearest"

    @property
    def reads_exactly(self) -> bool:
        """Whether the device uses the operands it is given exactly (no TF32, no narrower
        evaluation, no flushing); a policy's cast is exact for operands its compute format holds."""
        return self.u_in == 0 and self.eta_in == 0

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def read_errors(contract: Contract, reference: Reference) -> tuple[float, float, float, float]:
    """(relative error of the left operand, of the right one, of the addend; absolute error) as the
    computation uses them: the policy's cast where the compute format does not hold an operand
    exactly (float32 x, weight, bias; an upstream gradient already in it is exact), then the
    device's read."""
    c = contract
    held = reference.held_in(c.evaluation) if c.u_cast or c.eta_cast else (True, True, True)
    u = [(1 + c.u_in) * (1 + (0 if exact else c.u_cast)) - 1 for exact in held]
    return u[0], u[1], u[2], c.eta_in + (0 if all(held) else c.eta_cast)


def cpu_contract(dtype: str, device: str = "cpu") -> Contract:
    """The CPU contract: operands used as stored, float16/bfloat16 accumulated in float32. Under
    a mixed-precision policy the float32 operands are first rounded to the compute format (below
    its smallest normal to its subnormals), then computed as in that format."""
    out = compute_format(dtype)
    acc = FORMATS["float64"] if out.name == "float64" else F32
    contract = Contract(
        dtype=dtype,
        device=device,
        evaluation=out.name,
        u_in=0.0,
        eta_in=0.0,
        u_acc=acc.u,
        u_out=out.u,
        eta_acc=acc.tiny,
        eta_out=out.tiny,
        basis=f"CPU: operands exact in {dtype}, accumulation in {acc.name}, output rounded to {dtype}",
    )
    if dtype not in POLICIES:
        return contract
    variables = variable_format(dtype).name
    return replace(
        contract,
        u_cast=out.u,
        eta_cast=out.subnormal / 2,
        basis=f"CPU: {variables} variables and x rounded to {out.name}, accumulation in "
        f"{acc.name}, output rounded to {out.name}",
    )


#: the --tf32 policies
TF32_POLICIES = ("framework-default", "off", "on")


def device_contract(
    dtype: str, device: str, *, tf32: bool = False, reduced_reduction: bool = False
) -> Contract:
    """The contract on `device` given the flags in effect there.

    CPU: `cpu_contract`. GPU: as on the CPU, except that float32 operands are read as TF32 when
    TF32 is in effect, and float16/bfloat16 partial sums are kept in the output format when
    reduced-precision reductions are allowed.
    """
    base = cpu_contract(dtype, device)
    if device.split(":")[0] == "cpu":
        return base
    base = replace(base, basis=base.basis.replace("CPU", device, 1))
    if dtype == "float32" and tf32:
        return replace(_tf32(base), basis=f"{device}: {TF32_BASIS}")
    if base.evaluation in ("float16", "bfloat16") and reduced_reduction:
        return replace(
            _reduced(base),
            basis=f"{device}: reduced-precision reductions allowed: partial sums in {base.evaluation}",
        )
    return base


TF32_BASIS = (
    "float32 operands read as TF32 (10 fraction bits, u = 2^-11; a subnormal keeps only the bits "
    "above 2^-136, and tensor cores may read it as zero), accumulation in float32"
)


def tf32_operands(contract: Contract) -> Contract | None:
    """Operands read as TF32 where the contract evaluates in float32 (None elsewhere, or already)."""
    if contract.evaluation != "float32" or contract.u_in >= TF32_U:
        return None
    return _tf32(contract)


def _tf32(contract: Contract) -> Contract:
    return replace(
        contract,
        u_in=(1 + contract.u_in) * (1 + TF32_U) - 1,
        eta_in=contract.eta_in + F32.tiny,
        basis=f"{contract.basis}; operands read as TF32",
    )


def without_tf32(contract: Contract) -> Contract | None:
    """The strict float32 contract a TF32 contract stands in for, or None when it is not TF32."""
    if contract.u_in != TF32_U:
        return None
    return replace(
        contract,
        u_in=0.0,
        eta_in=0.0,
        basis=f"{contract.device}: operands exact in float32 (TF32 off), accumulation in float32",
    )


def float32_evaluation(float32: Contract) -> Callable[[Contract], Contract | None]:
    """A float64 contract evaluated with `float32` (the device's float32 contract) instead: operands
    rounded to float32 (below its smallest normal with an absolute error up to half its smallest
    subnormal) and then read as float32 operands are there, sums and result in float32, widened
    exactly. Past float32's range the evaluation overflows (see `bound`)."""

    def evaluate(contract: Contract) -> Contract | None:
        if contract.dtype != "float64" or contract.evaluation == "float32":
            return None
        return replace(
            contract,
            evaluation="float32",
            u_in=(1 + F32.u) * (1 + float32.u_in) - 1,
            eta_in=F32.subnormal / 2 + float32.eta_in,
            u_acc=float32.u_acc,
            eta_acc=float32.eta_acc,
            u_out=F32.u,
            eta_out=F32.tiny,
            basis=f"{contract.basis}; evaluated in float32 instead",
        )

    return evaluate


def directed_rounding(contract: Contract) -> Contract | None:
    """The same contract rounding its result in one direction (toward zero, say) rather than to
    nearest: the output's unit roundoff, and the accumulation's where it accumulates in the
    output format, doubled (a whole unit in the last place); None when it already does."""
    if contract.rounding == "directed":
        return None
    same = contract.u_acc == contract.u_out
    return replace(
        contract,
        rounding="directed",
        u_out=2 * contract.u_out,
        u_acc=2 * contract.u_acc if same else contract.u_acc,
        basis=f"{contract.basis}; results rounded in one direction, not to nearest",
    )


def reduced_accumulation(contract: Contract) -> Contract | None:
    """The same contract accumulating in the output format, or None when it already does."""
    if contract.u_out <= contract.u_acc:
        return None
    return _reduced(contract)


def _reduced(contract: Contract) -> Contract:
    return replace(
        contract,
        u_acc=contract.u_out,
        eta_acc=contract.eta_out,
        basis=f"{contract.basis}; accumulation in {contract.evaluation} instead",
    )


def flush_to_zero(contract: Contract) -> Contract | None:
    """Subnormal operands read as zero (results already may be: see the eta terms), or None when
    the contract already reads them with that much error."""
    tiny = FORMATS[contract.evaluation].tiny
    if contract.eta_in >= tiny:
        return None
    return replace(
        contract,
        eta_in=tiny,
        basis=f"{contract.basis}; subnormal operands read as zero",
    )


Transform = Callable[[Contract], "Contract | None"]


@dataclass(frozen=True)
class Judgement:
    """The contract a subject is held to in one cell, and the looser contracts (by observation
    code, in composition order) that can name what a result past it does instead."""

    contract: Contract
    looser: dict[Code, Transform]

    def compositions(self) -> Iterator[tuple[frozenset[Code], Contract]]:
        """Every composition of looser contracts that applies, fewest codes first."""
        codes = list(self.looser)
        for size in range(1, len(codes) + 1):
            for combo in itertools.combinations(codes, size):
                contract = self.composed(combo)
                if contract is not None:
                    yield frozenset(combo), contract

    def composed(self, codes) -> Contract | None:
        """The contract with the looser ones of `codes` applied in turn, or None when one does not apply."""
        contract: Contract | None = self.contract
        for code in codes:
            if contract is None:
                return None
            contract = self.looser[code](contract)
        return contract


def judgement(contract: Contract, float32: Contract, tf32_policy: str) -> Judgement:
    """What to hold a subject to, from its contract for the tested dtype and its float32 contract
    on the same device (the one a float64 evaluated in float32 runs under).

    Under --tf32 framework-default a framework that turns TF32 on by itself is held to strict
    float32 first, and TF32 becomes an observation (the known divergence tf32-default where
    registered); under on and off the flags in effect are the contract.
    """
    tf32 = {}
    strict = without_tf32(float32)
    if tf32_policy == "framework-default" and strict is not None:
        contract, float32 = without_tf32(contract) or contract, strict
        tf32 = {Code.TF32: tf32_operands}
    looser = {
        Code.FLOAT32_EVALUATION: float32_evaluation(float32),
        **tf32,
        Code.DIRECTED_ROUNDING: directed_rounding,
        Code.REDUCED_ACCUMULATION: reduced_accumulation,
        Code.FLUSH_TO_ZERO: flush_to_zero,
    }
    return Judgement(contract, {code: looser[code] for code in ARITHMETIC if code in looser})


def gamma(k: int, u: float) -> float:
    """(1 + u)^k - 1: the largest relative error of a product of k factors (1 + delta), |delta| <= u.

    It is what Higham's gamma_k(u) = k*u / (1 - k*u) bounds from above, and stays a bound for any k
    (a sum too long for its accumulation gets a bound past the result's magnitude, not none).
    """
    return float(np.expm1(k * np.log1p(u)))


def input_cast(dtype: str) -> Callable[[Contract], Contract]:
    """The contract for x handed over in another dtype and cast to `dtype` first (to its variable
    format under a policy, whose own cast to the compute format the contract has): read with a
    further relative error up to that format's u (rounding; integers past 2^precision too) and,
    below its smallest normal, an absolute error up to it (rounded to a subnormal, or flushed)."""
    fmt = variable_format(dtype)

    def cast(contract: Contract) -> Contract:
        return replace(
            contract,
            u_in=(1 + contract.u_in) * (1 + fmt.u) - 1,
            eta_in=contract.eta_in + fmt.tiny,
            basis=f"{contract.basis}; x cast to {fmt.name} first",
        )

    return cast


def longest_useful_sum(contract: Contract) -> int:
    """The longest sum whose accumulation the contract bounds within a quarter of M: longer ones
    (partial sums in bfloat16, say) get bounds that prove nothing, so the tail does not draw them."""
    return int(0.25 / contract.u_acc)


def bound(contract: Contract, reference: Reference) -> np.ndarray:
    """Per-element bound on |subject - oracle| for the n-term dot products plus bias of `reference`.

    With m = M (1 + 2 gamma_{n+2}(u_or)) (M itself was computed in floating point), the oracle's
    error e_or = gamma_{n+1}(u_or) m, and g = gamma_{n+1}(u_acc) R + R - 1 with R the largest read
    factor, (1 + u_a)(1 + u_b) of a product or 1 + u_c of the addend (`read_errors`; (1 + u_in)^2
    but for a policy's cast):

        accumulated = g m + (n + 2) eta_acc  [+ (1 + gamma_{n+1}(u_acc)) moved, where eta_in > 0]
        rounded     = accumulated + eta_out  [+ u_out (m + accumulated), where u_out > u_acc]
        subject     = (1 + u2) rounded + u2 (|y| + e_or) + eta_out,   u2 = u_out + u_acc + u_out u_acc
        total       = (subject + e_or) (1 + 16 u_or)

    with `moved` what operands read with an absolute error below eta_in can move. Every step is
    linear in M, |y| and the underflow sum, so the bound is formed from those three arrays with
    scalar coefficients (a few array operations however large the result).
    """
    c, n, u_oracle = contract, reference.n, reference.u
    u_a, u_b, u_c, eta_in = read_errors(c, reference)
    read = max((1 + u_a) * (1 + u_b), 1 + u_c)  # a product's, or the addend's, read factor
    slack = 1 + 2 * gamma(n + 2, u_oracle)
    g_oracle = gamma(n + 1, u_oracle)
    g_acc = gamma(n + 1, c.u_acc)
    g = g_acc * read + read - 1
    u2 = c.u_out + c.u_acc + c.u_out * c.u_acc
    split = c.u_out > c.u_acc  # the split bias add: rounded to the output before the bias too
    r1, r2 = (1 + c.u_out, c.u_out) if split else (1.0, 0.0)  # rounded = r1 acc + r2 m + eta_out
    f = 1 + 16 * u_oracle
    per_m = f * (1 + u2) * (r1 * g + r2 + g_oracle) * slack
    constant = f * ((1 + u2) * (r1 * (n + 2) * c.eta_acc + c.eta_out) + c.eta_out)
    total = per_m * reference.magnitude + f * u2 * np.abs(reference.value) + constant
    if eta_in:
        per_moved = f * (1 + u2) * r1 * (1 + g_acc)
        underflow = reference.underflow_sum(FORMATS[c.evaluation].tiny)
        moved_constant = (n + 1) * eta_in**2 + eta_in
        u_in = max(u_a, u_b)
        total = total + per_moved * (eta_in * (1 + u_in) * slack * underflow + moved_constant)
    limit = overflow_limit(c)
    if limit is not None:
        total = np.where(reference.past(limit), np.inf, total)
    return unbounded_where_nan(total)


def unbounded_where_nan(total: np.ndarray) -> np.ndarray:
    """An infinite term times zero (an operand past the range times a zero one) bounds nothing."""
    return np.where(np.isnan(total), np.inf, total)


def overflow_limit(contract: Contract) -> float | None:
    """Magnitudes past which the contract's evaluation may overflow (with a factor 2 of margin for
    the rounding on the way), or None when the evaluation format is as wide as the stored one."""
    limit = FORMATS[contract.evaluation].max
    return limit / 2 if limit < variable_format(contract.dtype).max else None


def sgd_bound(
    contract: Contract,
    learning_rate: float,
    gradients: list,
    after: list[np.ndarray],
    start: np.ndarray,
) -> np.ndarray:
    """Bound on |subject - oracle| for parameters after k plain SGD steps P <- P - lr * g_t,
    from `start` (P_0).

    The loss of step t is sum(G_t * y_t), so g_t does not depend on P; lr is a power of two, so
    lr * g is exact but for underflow. With eps_t the contract's bound on the subject's gradient
    (`gradients[t]`, a Reference) and one rounding of the update to the parameters' format (u_p,
    eta_p: the output format's, or float32's for a mixed policy's float32 masters):

        e_0 = u_h |P_0| + s_h / 2   where the parameters are held in a narrower format h than
                                    their dtype (a float64 layer evaluated in float32), else 0
        e_{t+1} = (1 + u_p) (e_t + lr eps_t) + u_p |P_{t+1}| + (2 + u_p) eta_p
        o_{t+1} = (1 + u_or) (o_t + lr gamma_{n+1}(u_or) M_t) + u_or |P~_{t+1}|   (the oracle's own drift)

    with |P_{t+1}| <= |P~_{t+1}| + o_{t+1}; the bound after k steps is e_k + o_k, so it grows with k.
    """
    c = contract
    masters = POLICIES[c.dtype].variables if c.dtype in POLICIES else None
    u_p, eta_p = (masters.u, masters.tiny) if masters else (c.u_out, c.eta_out)
    held = FORMATS[c.evaluation] if masters is None and c.evaluation != c.dtype else None
    subject = held.u * np.abs(start) + held.subnormal / 2 if held else np.zeros(np.shape(start))
    oracle_drift = 0.0
    for reference, exact in zip(gradients, after, strict=True):
        u_or = reference.u
        eps = bound(c, reference)
        oracle_drift = (1 + u_or) * (
            oracle_drift + learning_rate * gamma(reference.n + 1, u_or) * reference.magnitude
        )
        oracle_drift = oracle_drift + u_or * np.abs(exact)
        subject = (1 + u_p) * (subject + learning_rate * eps) + u_p * (np.abs(exact) + oracle_drift)
        subject = subject + (2 + u_p) * eta_p
    total = (subject + oracle_drift) * (1 + 64 * gradients[0].u)
    limit = overflow_limit(c)
    if limit is None:
        return total
    return np.where(np.any([np.abs(p) > limit for p in after], axis=0), np.inf, total)


def chained_bound(
    contract: Contract, inner_limit: np.ndarray, left_abs: np.ndarray, outer: Reference
) -> np.ndarray:
    """Bound for outer = 2 L^T P computed from a computed P (|P^ - P| <= inner_limit), L the left operand.

    The product itself is bounded by the contract over outer.n terms with M (and the right
    operand) widened by the error carried in from P; that carried error, 2 |L|^T inner_limit, is
    added on top.
    """
    with np.errstate(invalid="ignore"):
        carried = unbounded_where_nan(2 * left_abs @ inner_limit)
    widened = replace(
        outer,
        value=np.abs(outer.value) + carried,
        magnitude=outer.magnitude + carried,
        right=np.abs(outer.right) + inner_limit.T,
    )
    return bound(contract, widened) + carried
