"""Harbor's severity scale, and how an OSV record's scores and words land on it.

The order of preference is the record's CVSS v3 vector, then v4, then v2, then the words a
database writes itself (GitHub's LOW/MODERATE/HIGH/CRITICAL, Ubuntu's priority, Debian's
urgency), and Unknown when nothing usable is there. A vector the cvss library rejects is
passed over, never fatal: the next source decides.

A vector that scores 0.0 (no impact at all) is Negligible rather than Unknown: the record
did rate it, and Harbor's scale has no "None" step.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from cvss import CVSS2, CVSS3, CVSS4, CVSSError


@functools.total_ordering
class Severity(Enum):
    """Harbor's scale, declared from least to most severe; members compare by that order."""

    UNKNOWN = "Unknown"
    NEGLIGIBLE = "Negligible"
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"
    CRITICAL = "Critical"

    @property
    def rank(self) -> int:
        """0 for Unknown up to 5 for Critical."""
        return _RANKS[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_RANKS = {severity: rank for rank, severity in enumerate(Severity)}

# The words databases write for themselves, lower-cased. "Important" is Red Hat's High.
_WORDS = {
    "critical": Severity.CRITICAL,
    "important": Severity.HIGH,
    "high": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.NEGLIGIBLE,
    "unimportant": Severity.NEGLIGIBLE,
}


@dataclass(frozen=True, slots=True)
class Cvss:
    """The first valid vector of each CVSS version a record gives, with its base score."""

    vector_v3: str | None = None
    score_v3: float | None = None
    vector_v4: str | None = None
    score_v4: float | None = None
    vector_v2: str | None = None
    score_v2: float | None = None


def read_cvss(entries: Iterable[tuple[str, str]]) -> Cvss | None:
    """The CVSS vectors among OSV severity entries (type, score); None when none is valid."""
    found: dict[str, tuple[str, float]] = {}
    for kind, vector in entries:
        if kind in found or kind not in ("CVSS_V3", "CVSS_V4", "CVSS_V2"):
            continue
        score = base_score(kind, vector)
        if score is not None:
            found[kind] = (vector, score)
    if not found:
        return None
    v3, v4, v2 = (found.get(kind, (None, None)) for kind in ("CVSS_V3", "CVSS_V4", "CVSS_V2"))
    return Cvss(v3[0], v3[1], v4[0], v4[1], v2[0], v2[1])


def base_score(kind: str, vector: str) -> float | None:
    """The base score of an OSV CVSS_V2/V3/V4 vector, or None when the vector is not valid."""
    vector = vector.strip()
    try:
        if kind == "CVSS_V3" and vector.startswith("CVSS:3."):
            return float(CVSS3(vector).base_score)
        if kind == "CVSS_V4" and vector.startswith("CVSS:4."):
            return float(CVSS4(vector).base_score)
        if kind == "CVSS_V2" and not vector.startswith("CVSS:"):
            return float(CVSS2(vector).base_score)
    except CVSSError:
        return None
    return None


def from_score(score: float) -> Severity:
    """The band of a CVSS v3 or v4 base score."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    return Severity.LOW if score > 0.0 else Severity.NEGLIGIBLE


def from_v2_score(score: float) -> Severity:
    """The band of a CVSS v2 base score, which has no Critical."""
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    return Severity.LOW if score > 0.0 else Severity.NEGLIGIBLE


def from_word(word: str) -> Severity | None:
    """A database's own severity word, or None for words that rate nothing ("not yet assigned")."""
    # Debian's tracker marks unconfirmed urgencies with trailing stars ("low**").
    return _WORDS.get(word.strip().rstrip("*").strip().lower())


def choose(cvss: Cvss | None, words: Iterable[str]) -> Severity:
    """The severity from the CVSS vectors by preference, else from the first word that rates."""
    if cvss is not None:
        if cvss.score_v3 is not None:
            return from_score(cvss.score_v3)
        if cvss.score_v4 is not None:
            return from_score(cvss.score_v4)
        if cvss.score_v2 is not None:
            return from_v2_score(cvss.score_v2)
    for word in words:
        severity = from_word(word)
        if severity is not None:
            return severity
    return Severity.UNKNOWN
