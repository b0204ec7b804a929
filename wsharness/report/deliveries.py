"""The load client's exact delivery counts in the report: counts, completeness, sampling.

From ``<prefix>_deliveries.csv`` (its last ``total`` row is the run's final figure)
and ``<prefix>_completeness.csv`` (one row per socket), both optional
(:mod:`wsharness.report.inputs`):

- the exact counts: delivered, missing, duplicate and out-of-order messages;
- completeness (``--protocol relay`` and ``socketio``): received of the messages the
  sockets should have received, the sockets complete and the lowest socket; from the
  ``total`` row's ``Expected`` / ``Received Expected``, else summed over
  ``_completeness.csv``;
- the deliver-timing sampling: a process that receives more than its bound per
  second times an unbiased sample of its deliveries; the share timed is
  ``Timed / Delivered`` and the report says so when it is below 1.

:func:`run_completeness` is the run's completeness from the best count it has, for
the comparison of two runs (:mod:`wsharness.report.compare`).
"""

from __future__ import annotations

from typing import Any

from wsharness.loadclient.slo import GAP_MARKER, Completeness, completeness_from_counts
from wsharness.report.inputs import (
    COMPLETENESS_SUFFIX,
    DELIVERIES_SUFFIX,
    DeliveryCounts,
    RunInputs,
)

DELIVER = "deliver"
FROM_ACCOUNTS = "per-socket accounts"
FROM_COUNTS = "exact delivery counts"


def _socket_summary(inputs: RunInputs) -> tuple[int, int, int, int, float | None] | None:
    """(expected, received, sockets assessed, complete, lowest) from _completeness.csv."""
    assessed = [row for row in inputs.socket_completeness if row.expected > 0]
    if not assessed:
        return None
    expected = sum(row.expected for row in assessed)
    received = sum(min(row.received, row.expected) for row in assessed)
    complete = sum(row.missing == 0 for row in assessed)
    ratios = [row.received / row.expected for row in assessed]
    return expected, received, len(assessed), complete, min(ratios)


def run_completeness(inputs: RunInputs) -> Completeness | None:
    """Delivered / expected of the run, from the best count it has (source named).

    Per-socket accounts (the ``total`` row's ``Received Expected`` / ``Expected``, else
    the sum of ``_completeness.csv``), else the exact counts (``Delivered`` /
    ``Delivered + Missing``), else ``deliver`` successes against the sequence-gap
    failures of ``_failures.csv`` (an upper bound).
    """
    counts = inputs.deliveries
    deliveries_file = f"{inputs.prefix}{DELIVERIES_SUFFIX}"
    if counts is not None and counts.expected and counts.received_expected is not None:
        return Completeness(
            counts.received_expected, counts.expected, f"{FROM_ACCOUNTS}, {deliveries_file}"
        )
    sockets = _socket_summary(inputs)
    if sockets is not None:
        source = f"{FROM_ACCOUNTS}, {inputs.prefix}{COMPLETENESS_SUFFIX}"
        return Completeness(sockets[1], sockets[0], source)
    if counts is not None and counts.delivered + counts.missing > 0:
        expected = counts.delivered + counts.missing
        return Completeness(counts.delivered, expected, f"{FROM_COUNTS}, {deliveries_file}")
    return gap_completeness(inputs)


def gap_completeness(inputs: RunInputs) -> Completeness | None:
    """``deliver`` successes against those plus the sequence-gap failures."""
    deliver = next((row for row in inputs.stats if row.name == DELIVER), None)
    if deliver is None:
        return None
    gaps = sum(
        row.occurrences
        for row in inputs.failures
        if row.name == DELIVER and GAP_MARKER in row.error
    )
    return completeness_from_counts(deliver.requests - deliver.failures, gaps)


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def sampling_sentence(counts: DeliveryCounts) -> str:
    """Whether ``deliver`` percentiles cover every delivery or a sample, and how large."""
    share = counts.timed_share
    if share is None:
        return "No message was delivered: deliver timings not sampled."
    if share >= 1.0:
        return (
            f"Every delivery was timed ({counts.timed} of {counts.delivered}): deliver "
            "percentiles cover all of them."
        )
    lowest = counts.lowest_sampling_ratio
    busiest = "" if lowest is None else f"; at the busiest second {lowest:.1%}"
    return (
        f"Deliver percentiles come from an unbiased sample: {counts.timed} of "
        f"{counts.delivered} deliveries timed ({share:.1%} of the run{busiest}); the "
        "counts are exact."
    )


def completeness_sentence(inputs: RunInputs) -> str:
    """The run's completeness and its sockets, or why it is not known."""
    document = completeness_document(inputs)
    if document["ratio"] is None:
        return f"Completeness: {document['reason']}."
    sockets = ""
    if document["sockets_assessed"] is not None:
        lowest = document["lowest_socket"]
        sockets = (
            f" on {document['sockets_assessed']} sockets, "
            f"{document['sockets_complete']} complete"
            + ("" if lowest is None else f", lowest socket {lowest:.2%}")
        )
    return (
        f"Completeness: {document['received']} of {document['expected']} expected "
        f"messages received ({document['ratio']:.2%}){sockets} ({document['source']})."
    )


def completeness_document(inputs: RunInputs) -> dict[str, Any]:
    """The run's per-socket completeness (``relay``, ``socketio``); nulls and a reason."""
    counts = inputs.deliveries
    empty: dict[str, Any] = {
        "ratio": None,
        "expected": None,
        "received": None,
        "sockets_assessed": None,
        "sockets_complete": None,
        "lowest_socket": None,
        "source": None,
    }
    if counts is not None and counts.expected and counts.received_expected is not None:
        return {
            **empty,
            "ratio": _rounded(counts.received_expected / counts.expected),
            "expected": counts.expected,
            "received": counts.received_expected,
            "sockets_assessed": counts.sockets_assessed,
            "sockets_complete": counts.sockets_complete,
            "lowest_socket": _rounded(counts.lowest_socket_completeness),
            "source": f"{inputs.prefix}{DELIVERIES_SUFFIX}, last total row",
            "reason": None,
        }
    sockets = _socket_summary(inputs)
    if sockets is not None:
        expected, received, assessed, complete, lowest = sockets
        return {
            **empty,
            "ratio": _rounded(received / expected),
            "expected": expected,
            "received": received,
            "sockets_assessed": assessed,
            "sockets_complete": complete,
            "lowest_socket": _rounded(lowest),
            "source": f"{inputs.prefix}{COMPLETENESS_SUFFIX}, summed over sockets",
            "reason": None,
        }
    if counts is None:
        reason = f"not measured: the run has no {inputs.prefix}{DELIVERIES_SUFFIX}"
    else:
        reason = (
            "not assessed: no per-socket accounts (only --protocol relay and socketio "
            "keep them)"
        )
    return {**empty, "reason": reason}


def deliveries_document(inputs: RunInputs) -> dict[str, Any]:
    """What ``report.json`` holds under ``deliveries`` (nulls and a reason if unknown)."""
    counts = inputs.deliveries
    completeness = completeness_document(inputs)
    if counts is None:
        return {
            "recorded": False,
            "source": None,
            "reason": f"not measured: the run has no {inputs.prefix}{DELIVERIES_SUFFIX} "
            "(a load client before exact delivery counts)",
            "delivered": None,
            "missing": None,
            "duplicate": None,
            "out_of_order": None,
            "sockets_with_gaps": None,
            "sampling": {
                "timed": None,
                "ratio": None,
                "lowest_second_ratio": None,
                "sampled": None,
                "statement": "not measured",
            },
            "completeness": completeness,
        }
    share = counts.timed_share
    return {
        "recorded": True,
        "source": f"{inputs.prefix}{DELIVERIES_SUFFIX}",
        "reason": None,
        "delivered": counts.delivered,
        "missing": counts.missing,
        "duplicate": counts.duplicate,
        "out_of_order": counts.out_of_order,
        "sockets_with_gaps": counts.sockets_with_gaps,
        "sampling": {
            "timed": counts.timed,
            "ratio": _rounded(share),
            "lowest_second_ratio": _rounded(counts.lowest_sampling_ratio),
            "sampled": None if share is None else share < 1.0,
            "statement": sampling_sentence(counts),
        },
        "completeness": completeness,
    }


def delivery_lines(inputs: RunInputs) -> list[str]:
    """The sentences both pages show about deliveries (empty without the file)."""
    counts = inputs.deliveries
    if counts is None:
        lines = [
            f"Exact delivery counts not measured: the run has no "
            f"{inputs.prefix}{DELIVERIES_SUFFIX}."
        ]
        if inputs.socket_completeness:
            lines.append(completeness_sentence(inputs))
        return lines
    gaps = (
        ""
        if counts.sockets_with_gaps is None
        else f" ({counts.sockets_with_gaps} sockets with gaps)"
    )
    return [
        f"Deliveries (exact counts): {counts.delivered} delivered, {counts.missing} "
        f"missing{gaps}, {counts.duplicate} duplicate, {counts.out_of_order} out of "
        "order.",
        completeness_sentence(inputs),
        sampling_sentence(counts),
    ]
