"""Claims checked by a chapter, with an honest verdict each, and the paper's statements they test.

A chapter lists the statements its result makes in the paper (:class:`Statement`: the theorem's
parts, and what the paper's text says about its figures) and checks them with :class:`Claim`s
computed by the chapter's module. Each claim has one of three verdicts:

* ``reproduced``: the check ran over at least one case and held;
* ``not reproduced``: it ran and failed (with a one-line reason);
* ``not tested``: it ran over zero cases, or the statement is out of reach at this scale (with a
  one-line reason).

Each claim also says what kind of check it is: ``evidence`` (tests the paper's statement on
computed data, against an independent computation where one exists) or ``consistency`` (checks
the implementation or an identity; it cannot fail for a correct program, so it is not evidence
for the paper). And it carries the verdict *expected* at the book's default parameters: the
book build and the tests fail when a verdict differs from its expectation
(:func:`check_expectations`), so an honest "not reproduced" row is allowed and a silent change
is not. Reruns at other parameters show the verdicts as measured.

The table renders itself in a notebook (HTML) and a terminal (text); its HTML carries the rows
as JSON, from which the book's "Results at a glance" page is built in the same build.
"""
from __future__ import annotations

import html
import json
import numbers
from dataclasses import dataclass
from typing import Iterable

import numpy as np

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_TESTED = "not tested"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_TESTED)

EVIDENCE = "evidence"
CONSISTENCY = "consistency"
KINDS = (EVIDENCE, CONSISTENCY)

#: The tag of the claim "every exact value shown lies in its proven enclosure" (one per chapter
#: that shows exact values); the book's overview adds up their cases.
PROVEN_VALUES = "proven-values"

#: The HTML class of the JSON payload that the book's extension collects.
PAYLOAD_CLASS = "l2l-claims"


class ClaimExpectationError(AssertionError):
    """A claim's verdict differs from the verdict expected at the book's default parameters."""


@dataclass(frozen=True)
class Statement:
    """One statement of the paper: ``key`` (short, unique in its chapter), where the paper makes
    it (``source``: "Theorem 4", "Figure 1, text", ...) and what it says, in our words."""

    key: str
    source: str
    text: str

    def __post_init__(self):
        for name in ("key", "source", "text"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"Statement.{name} must be a non-empty string, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class Claim:
    """One checked claim: what is claimed, what was measured, and whether it holds.

    ``holds`` is True, False, or None (not tested); ``cases`` (optional) is the number of cases the
    check ran over, and zero cases make the verdict "not tested" whatever ``holds`` says.
    ``statement`` is the key of the :class:`Statement` it tests ("" for a check of the
    companion's own computations that tests no statement of the paper), ``kind`` is "evidence" or
    "consistency", ``expected`` the verdict expected at the book's defaults, and ``reason`` says
    in one line why a claim is not reproduced or not tested (it is shown only then). ``tag``
    marks claims the book counts across chapters (:data:`PROVEN_VALUES`).
    """

    claim: str
    measured: str
    holds: bool | None
    statement: str = ""
    kind: str = EVIDENCE
    expected: str = REPRODUCED
    reason: str = ""
    cases: int | None = None
    tag: str = ""

    def __post_init__(self):
        if self.holds is not None and not isinstance(self.holds, (bool, np.bool_)):
            # a string, a nan or a list would count as true and read "reproduced"
            raise ValueError(f"Claim.holds must be True, False or None, got {self.holds!r}")
        if isinstance(self.holds, np.bool_):
            # numpy.bool_ would print as "True" too, but `is True` checks would fail.
            object.__setattr__(self, "holds", bool(self.holds))
        if self.kind not in KINDS:
            raise ValueError(f"Claim.kind must be one of {KINDS}, got {self.kind!r}")
        if self.expected not in VERDICTS:
            raise ValueError(f"Claim.expected must be one of {VERDICTS}, got {self.expected!r}")
        if self.cases is not None:
            if isinstance(self.cases, (bool, np.bool_)) or not isinstance(self.cases, numbers.Integral) or self.cases < 0:
                raise ValueError(f"Claim.cases must be a non-negative int or None, got {self.cases!r}")
            object.__setattr__(self, "cases", int(self.cases))

    @property
    def verdict(self) -> str:
        if self.holds is None or self.cases == 0:
            return NOT_TESTED
        return REPRODUCED if self.holds else NOT_REPRODUCED

    @property
    def as_expected(self) -> bool:
        return self.verdict == self.expected

    @property
    def why(self) -> str:
        """The one-line reason shown with a verdict other than "reproduced"."""
        if self.verdict == REPRODUCED:
            return ""
        if self.cases == 0:
            return self.reason or "the check ran over zero cases"
        return self.reason or "the measured value does not satisfy the claim"


def check_expectations(claims: Iterable[Claim]) -> None:
    """Raise :class:`ClaimExpectationError` naming every claim whose verdict is not the expected one."""
    wrong = [(i, c) for i, c in enumerate(claims, 1) if not c.as_expected]
    if wrong:
        raise ClaimExpectationError("; ".join(
            f"claim {i} ({c.claim!r}) is {c.verdict!r}, expected {c.expected!r} (measured: {c.measured})"
            for i, c in wrong))


def statement_verdict(claims: Iterable[Claim]) -> str:
    """A statement's verdict from its evidence claims: not reproduced if any is, reproduced if at
    least one is and none fails, not tested otherwise (consistency claims do not count)."""
    verdicts = [c.verdict for c in claims if c.kind == EVIDENCE]
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    if REPRODUCED in verdicts:
        return REPRODUCED
    return NOT_TESTED


_MARK = {REPRODUCED: "&#10004; reproduced", NOT_REPRODUCED: "&#10008; <strong>not reproduced</strong>",
         NOT_TESTED: "&#8212; not tested"}


@dataclass(frozen=True)
class ClaimsTable:
    """A chapter's ledger of the paper's statements and its numbered claims."""

    slug: str
    statements: tuple[Statement, ...]
    claims: tuple[Claim, ...]

    @property
    def all_hold(self) -> bool:
        return all(c.verdict == REPRODUCED for c in self.claims)

    def numbers(self, key: str) -> list[int]:
        return [i for i, c in enumerate(self.claims, 1) if c.statement == key]

    def verdict_of(self, key: str) -> str:
        return statement_verdict(c for c in self.claims if c.statement == key)

    def payload(self) -> dict:
        """The rows as plain data (what the book's "Results at a glance" page is built from)."""
        return {
            "slug": self.slug,
            "statements": [{"key": s.key, "source": s.source, "text": s.text, "claims": self.numbers(s.key),
                            "verdict": self.verdict_of(s.key)} for s in self.statements],
            "claims": [{"number": i, "claim": c.claim, "measured": c.measured, "statement": c.statement,
                        "kind": c.kind, "verdict": c.verdict, "expected": c.expected, "reason": c.why,
                        "cases": c.cases, "tag": c.tag}
                       for i, c in enumerate(self.claims, 1)],
        }

    def _repr_html_(self) -> str:
        e = html.escape
        ledger = "".join(
            f'<tr id="statement-{e(s.key)}"><td>{e(s.source)}</td><td>{e(s.text)}</td><td>'
            + (", ".join(f'<a href="#claim-{i}">{i}</a>' for i in self.numbers(s.key)) or "none")
            + f"</td><td>{_MARK[self.verdict_of(s.key)]}</td></tr>"
            for s in self.statements)
        rows = "".join(
            f'<tr id="claim-{i}"><td>{i}</td><td>{e(c.claim)}</td><td>{e(c.measured)}</td>'
            f"<td>{e(c.kind)}</td><td>{_MARK[c.verdict]}"
            + (f"<br><small>{e(c.why)}</small>" if c.why else "") + "</td></tr>"
            for i, c in enumerate(self.claims, 1))
        # "</" would end the script element early; JSON allows the escaped form.
        data = json.dumps(self.payload(), sort_keys=True).replace("</", "<\\/")
        return (
            '<p class="claims-caption"><strong>The paper\'s statements</strong> and the claims that '
            "test them (a statement is reproduced when its evidence claims are; consistency checks "
            "do not count).</p>"
            '<table class="claims-ledger"><thead><tr><th>where</th><th>statement (our words)</th>'
            f"<th>claims</th><th>verdict</th></tr></thead><tbody>{ledger}</tbody></table>"
            '<p class="claims-caption"><strong>Claims checked</strong>, as measured in this run.</p>'
            '<table class="claims-table"><thead><tr><th>#</th><th>claim</th><th>measured</th>'
            f"<th>kind</th><th>verdict</th></tr></thead><tbody>{rows}</tbody></table>"
            f'<script type="application/json" class="{PAYLOAD_CLASS}">{data}</script>'
        )

    def __repr__(self) -> str:
        return "\n".join(
            f"[{c.verdict:>14}] {i}. {c.claim}: {c.measured}" + (f" ({c.why})" if c.why else "")
            for i, c in enumerate(self.claims, 1))


def claims_table(claims: Iterable[Claim], statements: Iterable[Statement] | None = None,
                 slug: str = "") -> ClaimsTable:
    """Collect claims (and the statements they test) into a table that displays itself.

    With ``statements``, every claim must name one of them and every statement key is unique;
    a statement no claim tests is shown as "not tested".
    """
    claims = tuple(claims)
    if not claims:
        raise ValueError("claims_table needs at least one claim")
    for c in claims:
        if not isinstance(c, Claim):
            raise ValueError(f"claims_table expects Claim objects, got {type(c).__name__}")
    statements = tuple(statements or ())
    keys = [s.key for s in statements]
    if len(set(keys)) != len(keys):
        raise ValueError(f"statement keys must be unique, got {keys}")
    if statements:
        unknown = sorted({c.statement for c in claims if c.statement} - set(keys))
        if unknown:
            raise ValueError(f"claims name unknown statements {unknown}; known: {keys}")
    return ClaimsTable(slug, statements, claims)
