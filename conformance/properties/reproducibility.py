"""Reproducibility: the same bits again for the same numbers (core.reproducibility): on a second
call, for a row in another batch, at another framework thread count, and across two subjects.
Each records what it compared in the cell's tally (report.json: the cell's `reproducibility`);
a difference fails only where the claim is a contract: determinism under --deterministic, batch
and thread-count invariance for a subject that declares them (`Subject.batch_invariant`,
`Subject.thread_invariant`). The subjects' values are the other properties' concern: these compare
a subject with itself (or the pair with each other), bit for bit, never with the oracle."""

import numpy as np

from conformance.core.cell import Cell
from conformance.core.reproducibility import Tally
from conformance.properties.checks import forward, subject_input
from conformance.properties.declaration import declare
from conformance.subjects import Subject, loaded_layer
from strategies import Case, cases
from strategies.batches import Rebatched, rebatched
from strategies.gradients import Backward, backward

#: what a difference breaks, for each claim held as a contract
BROKEN = {
    "deterministic": "gave other bits for the same input on a second call (--deterministic "
    "holds every subject to identical bits)",
    "batch_invariant": "declares itself batch-invariant but computed a row differently in "
    "another batch",
    "thread_invariant": "declares itself thread-count-invariant but gave other bits at "
    "another thread count",
}


def tally(cell: Cell, claim: str, required: bool) -> Tally:
    """The cell's tally for `claim` (made on its first example)."""
    if cell.tally is None:
        cell.tally = Tally(claim, required=required)
    return cell.tally


def described(case: Case) -> str:
    """The example a comparison was made on, as the tally's worst difference names it."""
    return (
        f"x of shape {case.x.shape}, {case.in_features} -> {case.out_features} features, "
        f"values {case.family}"
    )


def magnitudes(case: Case, upstream: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """For the result and each gradient, the magnitude of the terms each element sums (float64,
    flat rows): |x| |W|^T + |b|; |G| |W|; |G|^T |x|; the sum of |G| over the rows. A drift is
    measured in ulps at this scale (core.reproducibility.drift_ulp)."""
    x = np.abs(case.flat_x().astype(np.float64))
    w = np.abs(case.weight.astype(np.float64))
    bias = 0.0 if case.bias is None else np.abs(case.bias.astype(np.float64))
    found = {"result": x @ w.T + bias}
    if upstream is not None:
        g = np.abs(np.asarray(upstream, np.float64).reshape(-1, case.out_features))
        found |= {"input gradient": g @ w, "weight gradient": g.T @ x,
                  "bias gradient": g.sum(axis=0)}  # fmt: skip
    return found


def compared(cell: Cell, subject: Subject, case: Case, what: str, first, second,
             labels: tuple[str, str], scale: np.ndarray):  # fmt: skip
    """Count one comparison in the cell's tally (its drift at `scale`, shaped as the results);
    fail the cell, saying where and by how much, when the bits differ and the claim is a
    contract."""
    assert cell.tally is not None
    shape = np.shape(first)
    difference = cell.tally.compare(
        what, first, second, labels, on=described(case), scale=np.reshape(scale, shape)
    )
    if difference is not None and cell.tally.required:
        cell.fail(f"{subject.label} {BROKEN[cell.tally.claim]}: {difference.describe(*labels)}")


def own_gradients(subject: Subject, case: Case, upstream: np.ndarray) -> tuple:
    """(dx, dweight, dbias) as the subject computes them, or () where it has no gradients."""
    if subject.lacks("gradients") is not None:
        return ()
    return subject.gradients(loaded_layer(subject, case), subject_input(subject, case), upstream)


GRADIENTS = ("input gradient", "weight gradient", "bias gradient")


@declare(strategy=backward, example=Backward, shows=())
def repeated_calls_give_the_same_bits(cell, subject, example):
    """Called twice on the same input, the same layer returns the same bits, and so do its
    gradients (where the subject computes them). Under --deterministic a difference fails, with
    both results; otherwise what differed is recorded."""
    tally(cell, "deterministic", "deterministic" in cell.required).example()
    case, labels = example.case, ("on the first call", "on the second")
    scale = magnitudes(case, example.upstream)
    compared(cell, subject, case, "result", forward(cell, subject, case),
             forward(cell, subject, case), labels, scale["result"])  # fmt: skip
    first = own_gradients(subject, case, example.upstream)
    second = own_gradients(subject, case, example.upstream)
    for what, a, b in zip(GRADIENTS, first, second, strict=False):
        if a is not None and b is not None:
            compared(cell, subject, case, what, a, b, labels, scale[what])


@declare(strategy=rebatched, example=Rebatched, shows=())
def rows_do_not_depend_on_their_batch(cell, subject, example):
    """Each row of f(X) has the bits of the row computed alone, f(X[i:i+1]), and of the same row
    at another position in a batch of another size (up to the tail's sizes, where matmul kernels
    switch), whose rows have the bits of the rows alone too. A subject that declares itself
    batch-invariant is held to it; otherwise what differed is recorded."""
    case = example.case
    x = case.flat_x()
    rows = x.shape[0]
    tally(cell, "batch_invariant", subject.batch_invariant).example(compared=rows > 0)
    if rows == 0:  # an empty batch: no row to place elsewhere
        return
    whole = forward(cell, subject, case, np.ascontiguousarray(x))
    scale = magnitudes(case)["result"]
    alone = {}
    for i in sorted({0, rows // 2, rows - 1}):
        alone[i] = forward(cell, subject, case, np.ascontiguousarray(x[i : i + 1]))
        compared(cell, subject, case, f"row {i}", whole[i : i + 1], alone[i],
                 (f"in the batch of {rows}", "alone"), scale[i : i + 1])  # fmt: skip
    taken = example.rows()
    other = forward(cell, subject, case, np.ascontiguousarray(x[taken]))
    for place, i in enumerate(taken.tolist()):  # the other batch's rows computed alone above
        if i in alone:
            compared(cell, subject, case, f"row {i}", other[place : place + 1], alone.pop(i),
                     (f"at position {place} in a batch of {example.size}", "alone"),
                     scale[i : i + 1])  # fmt: skip
    taking = (
        f"row {example.offset}"
        if example.size == 1
        else (f"rows {example.offset}, {example.offset + 1}, ... ({example.size} in turn)")
    )
    compared(cell, subject, case, taking,
             whole[taken], other,
             (f"in the batch of {rows}", f"in a batch of {example.size}"), scale[taken])  # fmt: skip


@declare(strategy=backward, example=Backward, shows=(), thread_counts=True)
def results_do_not_depend_on_the_thread_count(cell, subject, example):
    """On the CPU, the layer's result and gradients have the same bits at the worker's framework
    thread count as at another (one thread against several), computed in a second process where
    the frameworks started with the other count. A subject that declares itself
    thread-count-invariant is held to it; otherwise what differed is recorded. Opt-in:
    --thread-counts."""
    peer = cell.peer
    here = peer.here
    record = tally(cell, "thread_invariant", subject.thread_invariant)
    record.threads = (here, peer.threads)
    record.example()
    case = example.case
    there = peer.results(subject, case, example.upstream)
    layer = loaded_layer(subject, case)
    labels = (f"at {here} thread{'s' * (here != 1)}", f"at {peer.threads}")
    scale = magnitudes(case, example.upstream)
    here_result = forward(cell, subject, case, case.x)
    compared(cell, subject, case, "result", here_result, there["forward"], labels, scale["result"])
    if there["gradients"] is not None:
        mine = subject.gradients(layer, case.x, example.upstream)
        for what, a, b in zip(GRADIENTS, mine, there["gradients"], strict=True):
            if a is not None and b is not None:
                compared(cell, subject, case, what, a, b, labels, scale[what])


@declare(strategy=cases, shows=(), pair=True)
def pair_shares_bits(cell, pair, case):
    """Two subjects given the same case return results of one shape; the share of elements with
    identical bits (of their values in float64 where their formats differ) is recorded: a
    statistic of how alike the two compute, never judged (their values answer to the oracle
    elsewhere)."""
    tally(cell, "bitwise_identical", False).example(compared=case.rows > 0)
    first, second = (forward(cell, subject, case) for subject in pair)  # each of its shape
    scale = magnitudes(case)["result"].reshape(np.shape(first))
    labels = tuple(f"from {s.label}" for s in pair)
    cell.tally.compare("result", first, second, labels, described(case), scale)
