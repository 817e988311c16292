"""The report shapes of the scanner-adapter API, and what a report sums up to.

Both sides use these: the built-in adapter writes reports from its findings, and the
registry sums up whatever report an adapter (ours, Trivy's, any other) returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The MIME types of the adapter API (shared/specs/harbor-scanner).
METADATA_V1_1 = "application/vnd.scanner.adapter.metadata+json; version=1.1"
SCAN_REQUEST_V1_1 = "application/vnd.scanner.adapter.scan.request+json; version=1.1"
SCAN_RESPONSE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"
HARBOR_REPORT = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
VULNERABILITY_REPORT = "application/vnd.security.vulnerability.report; version=1.1"
SBOM_REPORT = "application/vnd.security.sbom.report+json; version=1.0"
# The two report types that carry Harbor's vulnerability report shape.
VULNERABILITY_MIME_TYPES = (VULNERABILITY_REPORT, HARBOR_REPORT)
CYCLONEDX = "application/vnd.cyclonedx+json"
SPDX = "application/spdx+json"
SBOM_MEDIA_TYPES = (CYCLONEDX, SPDX)
# The artifact manifests an adapter scans.
SCANNABLE = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)

# Harbor's severity scale, lowest first; "None" is what a clean report sums up to.
SEVERITIES = ("Unknown", "Negligible", "Low", "Medium", "High", "Critical")
_RANK = {name: rank for rank, name in enumerate(("None", *SEVERITIES))}


def rank(severity: str) -> int:
    """A severity's place on the scale ("None" lowest); an unknown word ranks as Unknown."""
    return _RANK.get(severity, _RANK["Unknown"])


def worst(severities: Sequence[str]) -> str:
    return max(severities, key=rank, default="None")


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts by severity, as Harbor's scan overview shows them."""

    total: int
    fixable: int
    counts: dict[str, int]
    severity: str

    def as_json(self) -> dict[str, Any]:
        return {"total": self.total, "fixable": self.fixable, "summary": self.counts}


def summarize(report: Mapping[str, Any], allowed: frozenset[str] = frozenset()) -> Summary:
    """What a vulnerability report sums up to, leaving out the ids in ``allowed``
    (a CVE allowlist). Each (package, version, id) counts once."""
    seen: set[tuple[str, str, str]] = set()
    counts: dict[str, int] = {}
    fixable = 0
    for item in report.get("vulnerabilities") or ():
        if not isinstance(item, Mapping):
            continue
        vulnerability = str(item.get("id", ""))
        if vulnerability in allowed:
            continue
        key = (str(item.get("package", "")), str(item.get("version", "")), vulnerability)
        if key in seen:
            continue
        seen.add(key)
        severity = str(item.get("severity", "Unknown"))
        severity = severity if severity in _RANK and severity != "None" else "Unknown"
        counts[severity] = counts.get(severity, 0) + 1
        if item.get("fix_version"):
            fixable += 1
    return Summary(len(seen), fixable, counts, worst(list(counts)))


def worst_item(report: Mapping[str, Any], allowed: frozenset[str]) -> Mapping[str, Any] | None:
    """The most severe vulnerability of a report outside ``allowed``, for messages."""
    items = [
        item
        for item in report.get("vulnerabilities") or ()
        if isinstance(item, Mapping) and str(item.get("id", "")) not in allowed
    ]
    return max(items, key=lambda item: rank(str(item.get("severity", "Unknown"))), default=None)


def timestamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
