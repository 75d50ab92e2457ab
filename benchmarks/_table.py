"""Printing: the one table (with its budget column), then the budget verdicts."""

from __future__ import annotations

from _budgets import Verdict
from _harness import Result

__all__ = ["print_budgets", "print_table"]

_COLUMNS = ("section", "target", "scenario", "variant", "us/op", "overhead us", "+-", "ratio",
            "budget", "note")  # fmt: skip


def _cells(row: Result) -> tuple[str, ...]:
    baseline = row.overhead_us is None
    return (
        row.section,
        row.target,
        row.scenario,
        row.variant,
        f"{row.per_op_us:.2f}",
        "-" if baseline else f"{row.overhead_us:+.2f}",
        "" if baseline else f"{row.spread_us:.2f}",
        "1" if baseline else f"{row.ratio:.3f}",
        row.budget,
        row.note,
    )


def print_table(results: list[Result]) -> None:
    rows = [_COLUMNS, *(_cells(row) for row in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    numeric = {4, 5, 6, 7}
    previous = None
    for index, row in enumerate(rows):
        key = row[:3]
        if index > 1 and key != previous:
            print()
        previous = key
        print(
            "  ".join(
                cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
                for i, cell in enumerate(row)
            ).rstrip()
        )
        if index == 0:
            print("  ".join("-" * width for width in widths))


def print_budgets(verdicts: list[Verdict], notes: list[str]) -> None:
    print("\nBudgets (issue 10), from the figures above:")
    for verdict in verdicts:
        print(f"  {verdict.status:<4}  {verdict.budget}: {verdict.detail}")
    if not verdicts:
        print("  (none of the selected sections has a budget)")
    passed = sum(v.status == "PASS" for v in verdicts)
    failed = sum(v.status == "FAIL" for v in verdicts)
    print(f"  {passed} PASS, {failed} FAIL, {len(verdicts) - passed - failed} n/a")
    for note in dict.fromkeys(notes):
        print(f"note: {note}")
