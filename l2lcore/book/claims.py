"""Claims checked by a chapter: one row per claim, produced by library functions.

A chapter ends with ``claims_table(some_module.chapter_claims(...))``; the tests call the
same ``chapter_claims`` functions and assert that every claim holds, so the book and the
test-suite cannot disagree about what was checked.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Claim:
    """One checked statement: what is claimed, what was measured, and whether it holds."""

    claim: str
    measured: str
    holds: bool

    def __post_init__(self):
        if not isinstance(self.holds, bool):
            # numpy.bool_ would print as "True" too, but `is True` checks would fail.
            object.__setattr__(self, "holds", bool(self.holds))


@dataclass(frozen=True)
class ClaimsTable:
    """A rendered list of claims (HTML in the book, plain text in a terminal)."""

    claims: tuple[Claim, ...]

    @property
    def all_hold(self) -> bool:
        return all(c.holds for c in self.claims)

    def _repr_html_(self) -> str:
        rows = "".join(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                html.escape(c.claim),
                html.escape(c.measured),
                "&#10004; yes" if c.holds else "&#10008; <strong>no</strong>",
            )
            for c in self.claims
        )
        return (
            '<table class="claims-table"><thead><tr><th>claim</th><th>measured</th>'
            f"<th>holds?</th></tr></thead><tbody>{rows}</tbody></table>"
        )

    def __repr__(self) -> str:
        return "\n".join(
            f"[{'yes' if c.holds else 'NO '}] {c.claim}: {c.measured}" for c in self.claims
        )


def claims_table(claims: Iterable[Claim]) -> ClaimsTable:
    """Collect claims into a table that displays itself in a notebook."""
    claims = tuple(claims)
    if not claims:
        raise ValueError("claims_table needs at least one claim")
    for c in claims:
        if not isinstance(c, Claim):
            raise ValueError(f"claims_table expects Claim objects, got {type(c).__name__}")
    return ClaimsTable(claims)
