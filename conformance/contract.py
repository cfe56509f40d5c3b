"""Contracts (precision assumptions per subject x dtype x device) and the error bound they imply.

For y_j = sum_i x_i W_ji + b_j over n terms, with operands rounded on the device with u_in,
accumulated with u_acc and rounded to the output with u_out (Higham, 2nd ed., section 3.1):

    E     = g*M + (n+2)*eta_acc,   g = gamma_{n+1}(u_acc)*(1+u_in)^2 + 2*u_in + u_in^2
    bound = (1+u2)*(E + r*u_out*(M+E) + eta_out) + u2*|y| + eta_out,   u2 = u_out + u_acc + u_out*u_acc

with M = |x||W|^T + |b|. r = 1 when the output format is narrower than the accumulator: the
matmul result may then be rounded to the output once before the bias is added and once after
(Keras adds the bias as its own op), so both a fused and a split bias add stay inside the bound.
The eta terms cover underflow and flush-to-zero of results. The oracle's own error
gamma_{n+1}(u_oracle)*M is added, |y| is taken from the oracle plus that error, and the
bound is widened for the rounding of its own evaluation, so it cannot false-alarm.
"""

from dataclasses import dataclass, replace

import numpy as np

from conformance.formats import FORMATS, TF32_U


class ContractError(ValueError):
    """A contract cannot bound a sum this long (k*u >= 1)."""


@dataclass(frozen=True)
class Contract:
    """Precision assumptions of one subject x dtype x device."""

    dtype: str
    device: str
    u_in: float  # extra rounding of the operands on the device (0: used as stored)
    u_acc: float  # unit roundoff of the accumulation
    u_out: float  # unit roundoff of the output
    eta_acc: float  # smallest normal of the accumulation format
    eta_out: float  # smallest normal of the output format
    basis: str  # why these assumptions hold

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def cpu_contract(dtype: str, device: str = "cpu") -> Contract:
    """The CPU contract: operands used as stored, float16/bfloat16 accumulated in float32."""
    out = FORMATS[dtype]
    acc = FORMATS["float64"] if dtype == "float64" else FORMATS["float32"]
    return Contract(
        dtype=dtype,
        device=device,
        u_in=0.0,
        u_acc=acc.u,
        u_out=out.u,
        eta_acc=acc.tiny,
        eta_out=out.tiny,
        basis=f"CPU: operands exact in {dtype}, accumulation in {acc.name}, output rounded to {dtype}",
    )


#: the --tf32 policies
TF32_POLICIES = ("framework-default", "off", "on")


def device_contract(
    dtype: str, device: str, *, tf32: bool = False, reduced_reduction: bool = False
) -> Contract:
    """The contract on `device` given the flags in effect there.

    CPU: `cpu_contract`. GPU: as on the CPU, except that float32 operands are rounded to TF32
    (u_in = 2^-11) when TF32 is in effect, and float16/bfloat16 partial sums are kept in the
    output format when reduced-precision reductions are allowed.
    """
    base = cpu_contract(dtype, device)
    if device.split(":")[0] == "cpu":
        return base
    if dtype == "float32" and tf32:
        return replace(
            base,
            u_in=TF32_U,
            basis=f"{device}: float32 operands rounded to TF32 (u = 2^-11), accumulation in float32",
        )
    if dtype in ("float16", "bfloat16") and reduced_reduction:
        return replace(
            reduced_accumulation(base),
            basis=f"{device}: reduced-precision reductions allowed: partial sums in {dtype}",
        )
    return replace(base, basis=base.basis.replace("CPU", device, 1))


def without_tf32(contract: Contract) -> Contract | None:
    """The strict float32 contract a TF32 contract stands in for, or None when it is not TF32."""
    if contract.u_in != TF32_U:
        return None
    return replace(
        contract,
        u_in=0.0,
        basis=f"{contract.device}: operands exact in float32 (TF32 off), accumulation in float32",
    )


def float32_evaluation(contract: Contract) -> Contract | None:
    """A float64 contract's float32 evaluation (operands, sums and result rounded to float32, then
    widened exactly), or None for other dtypes. Where the magnitudes pass float32's range the
    evaluation overflows: see `past_float32_range`."""
    if contract.dtype != "float64":
        return None
    f32 = FORMATS["float32"]
    return replace(
        contract,
        u_in=f32.u,
        u_acc=f32.u,
        u_out=f32.u,
        eta_acc=f32.tiny,
        eta_out=f32.tiny,
        basis=f"{contract.basis}; evaluated in float32 instead",
    )


def past_float32_range(bound: np.ndarray) -> np.ndarray:
    """Where a float32-evaluation bound (>= 2u*M) says M reached float32's largest value: a float32
    evaluation may overflow there, so any result is consistent with it."""
    f32 = FORMATS["float32"]
    return bound >= 2 * f32.u * float(np.finfo(np.float32).max)


def reduced_accumulation(contract: Contract) -> Contract | None:
    """The same contract accumulating in the output format, or None when it already does."""
    if contract.u_out <= contract.u_acc:
        return None
    return replace(
        contract,
        u_acc=contract.u_out,
        eta_acc=contract.eta_out,
        basis=f"{contract.basis}; accumulation in {contract.dtype} instead",
    )


def gamma(k: int, u: float) -> float:
    """Higham's gamma_k(u) = k*u / (1 - k*u)."""
    if k * u >= 0.5:
        raise ContractError(
            f"a sum of {k} terms at unit roundoff {u:g} has no useful bound"
        )
    return k * u / (1 - k * u)


def bound(
    contract: Contract,
    n: int,
    magnitude: np.ndarray,
    reference: np.ndarray,
    u_oracle: float,
) -> np.ndarray:
    """Per-element bound on |subject - oracle| for an n-term dot product plus bias.

    `magnitude` is M = |x||W|^T + |b| and `reference` the oracle's result, both in the oracle's precision.
    """
    c = contract
    slack = 1 + 2 * gamma(n + 2, u_oracle)  # M itself was computed in floating point
    m = magnitude * slack
    e_oracle = gamma(n + 1, u_oracle) * m
    g = gamma(n + 1, c.u_acc) * (1 + c.u_in) ** 2 + 2 * c.u_in + c.u_in**2
    accumulated = g * m + (n + 2) * c.eta_acc
    u2 = c.u_out + c.u_acc + c.u_out * c.u_acc
    split = 1.0 if c.u_out > c.u_acc else 0.0
    subject = (1 + u2) * (accumulated + split * c.u_out * (m + accumulated) + c.eta_out)
    subject = subject + u2 * (np.abs(reference) + e_oracle) + c.eta_out
    return (subject + e_oracle) * (1 + 16 * u_oracle)


def sgd_bound(
    contract: Contract, learning_rate: float, gradients: list, after: list[np.ndarray]
) -> np.ndarray:
    """Bound on |subject - oracle| for parameters after k plain SGD steps P <- P - lr * g_t.

    The loss of step t is sum(G_t * y_t), so g_t does not depend on P; lr is a power of two, so
    lr * g is exact but for underflow. With eps_t the contract's bound on the subject's gradient
    (`gradients[t]`, a Reference) and one rounding of the update to the output format:

        e_{t+1} = (1 + u_out) (e_t + lr eps_t) + u_out |P_{t+1}| + (2 + u_out) eta_out
        o_{t+1} = (1 + u_or) (o_t + lr gamma_{n+1}(u_or) M_t) + u_or |P~_{t+1}|   (the oracle's own drift)

    with |P_{t+1}| <= |P~_{t+1}| + o_{t+1}; the bound after k steps is e_k + o_k, so it grows with k.
    """
    c = contract
    subject = oracle_drift = 0.0
    for reference, exact in zip(gradients, after, strict=True):
        u_or = reference.u
        eps = bound(c, reference.n, reference.magnitude, reference.value, u_or)
        oracle_drift = (1 + u_or) * (
            oracle_drift
            + learning_rate * gamma(reference.n + 1, u_or) * reference.magnitude
        )
        oracle_drift = oracle_drift + u_or * np.abs(exact)
        subject = (1 + c.u_out) * (subject + learning_rate * eps) + c.u_out * (
            np.abs(exact) + oracle_drift
        )
        subject = subject + (2 + c.u_out) * c.eta_out
    return (subject + oracle_drift) * (1 + 64 * gradients[0].u)


def chained_bound(
    contract: Contract, inner_limit: np.ndarray, left_abs: np.ndarray, outer
) -> np.ndarray:
    """Bound for outer = 2 L^T P computed from a computed P (|P^ - P| <= inner_limit), L the left operand.

    The product itself is bounded by the contract over outer.n terms with M widened by the error
    carried in from P; that carried error, 2 |L|^T inner_limit, is added on top.
    """
    carried = 2 * left_abs @ inner_limit
    magnitude = outer.magnitude + carried
    return (
        bound(contract, outer.n, magnitude, np.abs(outer.value) + carried, outer.u)
        + carried
    )
