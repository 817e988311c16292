"""The OSV side of the scanner against real OSV records (tests/scanning/osv/, sources in README)."""

from __future__ import annotations

import shutil
import zipfile
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import orjson
import pytest
from univers.versions import Version

from dockyard.scanning.osv.advisories import (
    Advisory,
    Affected,
    Event,
    EventKind,
    Range,
    effective_severity,
    parse,
)
from dockyard.scanning.osv.ecosystems import (
    Lookup,
    distro_key,
    ecosystem_key,
    lookup,
    normalise_name,
)
from dockyard.scanning.osv.errors import OsvError
from dockyard.scanning.osv.matching import affected_version, match_advisory
from dockyard.scanning.osv.records import open_sources
from dockyard.scanning.osv.severity import (
    Severity,
    base_score,
    choose,
    from_score,
    from_v2_score,
    from_word,
    read_cvss,
)
from dockyard.scanning.osv.versions import compare, version_class
from dockyard.scanning.osv.versions import parse as parse_version
from dockyard.scanning.packages import Distro, Package

RECORDS = Path(__file__).parent / "osv"
RECORD_FILES = sorted(path.name for path in RECORDS.glob("*.json"))

BOOKWORM = Distro("debian", "12", "bookworm")
STRETCH = Distro("debian", "9", "stretch")
JAMMY = Distro("ubuntu", "22.04", "jammy")


@cache
def advisory(advisory_id: str) -> Advisory:
    return parse(orjson.loads((RECORDS / f"{advisory_id}.json").read_bytes()))


def fixed_in(advisory_id: str, query: Lookup) -> str | None:
    """The fixed version of the match, "" for an unfixed match, None when not affected."""
    match = match_advisory(advisory(advisory_id), query)
    if match is None:
        return None
    return match.fixed or ""


def deb(source: str, version: str, binary: str = "") -> Package:
    return Package(
        "deb",
        binary or source,
        version,
        "var/lib/dpkg/status",
        source,
        version,
        architecture="amd64",
    )


def musl(version: str, release: str) -> str | None:
    """ALPINE-CVE-2025-26519's fixed version for musl at this version on this Alpine release."""
    query = lookup(
        Package("apk", "musl", version, "lib/apk/db/installed", "musl", version),
        Distro("alpine", release),
    )
    assert query is not None
    return fixed_in("ALPINE-CVE-2025-26519", query)


def ecosystem_range(*events: tuple[EventKind, str]) -> Affected:
    """An affected entry with one ECOSYSTEM range, for algorithm cases no real record has."""
    range_ = Range("ECOSYSTEM", tuple(Event(kind, version) for kind, version in events))
    return Affected("", "", "", (range_,), ())


# --- records ---------------------------------------------------------------------------------


def test_a_directory_is_walked_for_json_records(tmp_path: Path) -> None:
    nested = tmp_path / "Go" / "2023"
    nested.mkdir(parents=True)
    shutil.copy(RECORDS / "GO-2023-2102.json", nested)
    shutil.copy(RECORDS / "PYSEC-2023-74.json", tmp_path)
    (tmp_path / "README.md").write_text("not a record")

    [source] = open_sources([tmp_path])

    assert source.kind == "directory"
    assert source.count == 2
    assert source.names == ("Go/2023/GO-2023-2102.json", "PYSEC-2023-74.json")
    assert [record["id"] for record in source] == ["GO-2023-2102", "PYSEC-2023-74"]


def test_the_fixture_directory_holds_every_record() -> None:
    [source] = open_sources([RECORDS])

    assert source.count == len(RECORD_FILES) == 15
    assert {parse(record).id for record in source} == {name[:-5] for name in RECORD_FILES}


def test_a_single_file_is_one_record() -> None:
    [source] = open_sources([RECORDS / "GHSA-whgm-jr23-g3j9.json"])

    assert (source.kind, source.count) == ("file", 1)
    assert [record["id"] for record in source] == ["GHSA-whgm-jr23-g3j9"]


def test_a_zip_dump_counts_its_records_and_names_the_broken_one(tmp_path: Path) -> None:
    dump = tmp_path / "all.zip"
    with zipfile.ZipFile(dump, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("DLA-3008-1.json", "ALPINE-CVE-2025-26519.json", "GO-2022-0617.json"):
            archive.write(RECORDS / name, name)
        archive.writestr("DSA-0000-1.json", b'{"id": "DSA-0000-1", "affected": [')
        archive.writestr("list.json", b"[1, 2]")
        archive.writestr("LICENSE.txt", b"not a record")

    [source] = open_sources([dump])
    assert (source.kind, source.count) == ("zip", 5)

    entries = list(source.entries())
    records = [record for _, record in entries if not isinstance(record, OsvError)]
    errors = {name: str(error) for name, error in entries if isinstance(error, OsvError)}
    assert [record["id"] for record in records] == [
        "DLA-3008-1",
        "ALPINE-CVE-2025-26519",
        "GO-2022-0617",
    ]
    assert errors.keys() == {"DSA-0000-1.json", "list.json"}
    assert errors["DSA-0000-1.json"].startswith(f"DSA-0000-1.json in {dump}: not JSON")
    assert "a JSON object, not list" in errors["list.json"]

    with pytest.raises(OsvError, match=r"DSA-0000-1\.json"):
        list(source)


def test_a_file_that_is_not_json_is_an_error_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "GHSA-broken.json"
    broken.write_text("{ this is not json")

    [source] = open_sources([broken])

    with pytest.raises(OsvError, match=r"GHSA-broken\.json: not JSON"):
        list(source)


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OsvError, match=r"nope\.zip: no such file or directory"):
        open_sources([tmp_path / "nope.zip"])


def test_an_unreadable_zip_is_an_error(tmp_path: Path) -> None:
    dump = tmp_path / "all.zip"
    dump.write_bytes(b"PK\x03\x04 truncated")

    with pytest.raises(OsvError, match=r"all\.zip: not a readable zip archive"):
        open_sources([dump])


# --- advisories ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RECORD_FILES)
def test_every_real_record_parses(name: str) -> None:
    parsed = advisory(name[:-5])

    assert parsed.id == name[:-5]
    assert parsed.modified.tzinfo is not None
    assert parsed.links[0] == f"https://osv.dev/vulnerability/{parsed.id}"


def test_a_github_advisory_is_read_whole() -> None:
    ghsa = advisory("GHSA-whgm-jr23-g3j9")

    assert ghsa.aliases == ("CVE-2021-23424",)
    assert ghsa.summary == "Uncontrolled Resource Consumption in ansi-html"
    assert ghsa.published == datetime(2021, 9, 2, 17, 15, 24, tzinfo=UTC)
    assert ghsa.modified == datetime(2023, 11, 8, 4, 5, 8, 868477, tzinfo=UTC)
    assert ghsa.withdrawn is None
    assert ghsa.cwe_ids == ("CWE-400",)
    assert ghsa.links[:3] == (
        "https://osv.dev/vulnerability/GHSA-whgm-jr23-g3j9",
        "https://github.com/ioet/time-tracker-ui/security/advisories/GHSA-4fjc-8q3h-8r69",
        "https://nvd.nist.gov/vuln/detail/CVE-2021-23424",
    )
    [affected] = ghsa.affected
    assert (affected.ecosystem, affected.name, affected.purl) == (
        "npm",
        "ansi-html",
        "pkg:npm/ansi-html",
    )
    assert affected.ranges == (
        Range("SEMVER", (Event("introduced", "0"), Event("fixed", "0.0.8"))),
    )


def test_dates_with_nanoseconds_and_the_zero_date_of_go_records() -> None:
    # GHSA-3pxv's "modified" has nine fractional digits; Go's repository records year 1.
    assert advisory("GHSA-3pxv-7cmr-fjr4").modified == datetime(
        2026, 4, 16, 11, 29, 10, 536806, tzinfo=UTC
    )
    assert advisory("GO-2023-2102").modified == datetime(1, 1, 1, tzinfo=UTC)


def test_a_withdrawn_record_carries_its_date() -> None:
    assert advisory("GO-2022-0617").withdrawn == datetime(2024, 8, 21, 16, 25, 56, tzinfo=UTC)


def test_distribution_records_list_upstream_ids() -> None:
    assert advisory("ALPINE-CVE-2025-26519").upstream == ("CVE-2025-26519",)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"modified": "2024-01-01T00:00:00Z"}, "needs an 'id' string"),
        ({"id": "GHSA-x"}, "GHSA-x: an OSV record needs a 'modified' date"),
        ({"id": "GHSA-x", "modified": "yesterday"}, "'modified' is not an RFC 3339 time stamp"),
        ({"id": "GHSA-x", "modified": 1704067200}, "'modified' must be an RFC 3339 string"),
        (
            {"id": "GHSA-x", "modified": "2024-01-01T00:00:00Z", "aliases": "CVE-1"},
            "'aliases' must be a list of strings",
        ),
        (
            {"id": "GHSA-x", "modified": "2024-01-01T00:00:00Z", "affected": {}},
            "'affected' must be a list of objects",
        ),
        (
            {
                "id": "GHSA-x",
                "modified": "2024-01-01T00:00:00Z",
                "affected": [{"ranges": [{"type": "RANGE", "events": []}]}],
            },
            r"affected\[0\]\.ranges\[0\]: 'type' must be one of SEMVER, ECOSYSTEM, GIT",
        ),
        (
            {
                "id": "GHSA-x",
                "modified": "2024-01-01T00:00:00Z",
                "affected": [
                    {"ranges": [{"type": "SEMVER", "events": [{"introduced": "0", "fixed": "1"}]}]}
                ],
            },
            r"events\[0\]: an event holds exactly one of",
        ),
    ],
)
def test_a_malformed_record_is_refused_with_the_reason(
    record: dict[str, object], message: str
) -> None:
    with pytest.raises(OsvError, match=message):
        parse(record)


def test_a_date_without_fractional_seconds_or_zone_is_utc() -> None:
    parsed = parse({"id": "X-1", "modified": "2024-01-17T00:00:00"})

    assert parsed.modified == datetime(2024, 1, 17, tzinfo=UTC)


# --- severity --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("advisory_id", "severity", "why"),
    [
        # CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:H/A:H scores exactly 7.0.
        ("ALPINE-CVE-2025-26519", Severity.HIGH, "cvss v3 7.0"),
        ("GHSA-whgm-jr23-g3j9", Severity.HIGH, "cvss v3 7.5"),
        ("GHSA-269g-pwp5-87pp", Severity.MEDIUM, "cvss v3 4.4 (GitHub says MODERATE too)"),
        ("CVE-2024-22365", Severity.MEDIUM, "cvss v3 5.5"),
        ("GHSA-3pxv-7cmr-fjr4", Severity.MEDIUM, "only a cvss v4 vector, 6.9"),
        ("GHSA-229r-pqp6-8w6g", Severity.HIGH, "no vector; GitHub's own HIGH"),
        ("UBUNTU-CVE-2025-38094", Severity.MEDIUM, "no vector; Ubuntu priority medium"),
        ("OSV-2018-389", Severity.MEDIUM, "only its affected entry rates it (MEDIUM)"),
        ("DLA-3008-1", Severity.UNKNOWN, "Debian's advisory rates nothing"),
        ("PYSEC-2023-74", Severity.UNKNOWN, "PyPA's record rates nothing"),
    ],
)
def test_the_severity_a_record_gets(advisory_id: str, severity: Severity, why: str) -> None:
    assert advisory(advisory_id).severity is severity, why


def test_the_cvss_a_record_gives_is_kept_with_its_score() -> None:
    cvss = advisory("GHSA-whgm-jr23-g3j9").cvss
    assert cvss is not None
    assert (cvss.vector_v3, cvss.score_v3) == ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5)
    assert (cvss.vector_v4, cvss.vector_v2) == (None, None)

    v4 = advisory("GHSA-3pxv-7cmr-fjr4").cvss
    assert v4 is not None
    assert (v4.score_v3, v4.score_v4) == (None, 6.9)


def test_ubuntu_rates_each_release_in_the_affected_entry() -> None:
    pam = advisory("CVE-2024-22365")

    assert {entry.severity for entry in pam.affected} == {Severity.MEDIUM}
    assert effective_severity(pam, pam.affected[-1]) is Severity.MEDIUM
    assert effective_severity(advisory("DLA-3008-1"), advisory("DLA-3008-1").affected[0]) is (
        Severity.UNKNOWN
    )


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (0.0, Severity.NEGLIGIBLE),
        (0.1, Severity.LOW),
        (3.9, Severity.LOW),
        (4.0, Severity.MEDIUM),
        (6.9, Severity.MEDIUM),
        (7.0, Severity.HIGH),
        (8.9, Severity.HIGH),
        (9.0, Severity.CRITICAL),
        (10.0, Severity.CRITICAL),
    ],
)
def test_cvss_v3_and_v4_bands(score: float, severity: Severity) -> None:
    assert from_score(score) is severity


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (0.0, Severity.NEGLIGIBLE),
        (3.9, Severity.LOW),
        (4.0, Severity.MEDIUM),
        (6.9, Severity.MEDIUM),
        (7.0, Severity.HIGH),
        (10.0, Severity.HIGH),
    ],
)
def test_cvss_v2_bands_have_no_critical(score: float, severity: Severity) -> None:
    assert from_v2_score(score) is severity


def test_a_vector_that_scores_nothing_is_negligible() -> None:
    cvss = read_cvss([("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N")])

    assert choose(cvss, []) is Severity.NEGLIGIBLE


def test_an_invalid_vector_falls_through_to_the_next_source() -> None:
    entries = [
        ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:BOGUS"),
        ("CVSS_V3", "9.8"),
        ("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P"),
    ]
    assert base_score("CVSS_V3", entries[0][1]) is None
    assert choose(read_cvss(entries), ["CRITICAL"]) is Severity.HIGH  # the v2 vector, 7.5
    assert choose(read_cvss(entries[:2]), ["CRITICAL"]) is Severity.CRITICAL
    assert choose(read_cvss(entries[:2]), []) is Severity.UNKNOWN


def test_v3_is_preferred_over_v4_and_v2() -> None:
    entries = [
        ("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P"),
        ("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
        ("CVSS_V3", "CVSS:3.1/AV:L/AC:H/PR:L/UI:R/S:U/C:H/I:N/A:N"),
    ]
    assert choose(read_cvss(entries), []) is Severity.MEDIUM
    assert choose(read_cvss(entries[:2]), []) is Severity.CRITICAL  # v4 9.3


@pytest.mark.parametrize(
    ("word", "severity"),
    [
        ("CRITICAL", Severity.CRITICAL),
        ("HIGH", Severity.HIGH),
        ("MODERATE", Severity.MEDIUM),
        ("medium", Severity.MEDIUM),
        ("LOW", Severity.LOW),
        ("low**", Severity.LOW),
        ("negligible", Severity.NEGLIGIBLE),
        ("unimportant", Severity.NEGLIGIBLE),
        ("not yet assigned", None),
        ("untriaged", None),
    ],
)
def test_database_words(word: str, severity: Severity | None) -> None:
    assert from_word(word) is severity


def test_the_scale_is_ordered() -> None:
    assert sorted([Severity.HIGH, Severity.UNKNOWN, Severity.CRITICAL, Severity.NEGLIGIBLE]) == [
        Severity.UNKNOWN,
        Severity.NEGLIGIBLE,
        Severity.HIGH,
        Severity.CRITICAL,
    ]
    assert max(Severity.LOW, Severity.MEDIUM) is Severity.MEDIUM
    assert Severity.CRITICAL.value == "Critical"


# --- ecosystems ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ecosystem", "key"),
    [
        ("Debian:12", "Debian:12"),
        ("Debian:9", "Debian:9"),
        ("Debian", None),
        ("Ubuntu:22.04:LTS", "Ubuntu:22.04"),
        ("Ubuntu:Pro:22.04:LTS", "Ubuntu:22.04"),
        ("Ubuntu:24.10", "Ubuntu:24.10"),
        ("Ubuntu", None),
        ("Alpine:v3.20", "Alpine:v3.20"),
        ("Alpine", None),
        ("AlmaLinux:9", "AlmaLinux:9"),
        ("AlmaLinux", None),
        ("Rocky Linux:9", "Rocky Linux:9"),
        ("Red Hat:enterprise_linux:9::appstream", "Red Hat:9"),
        ("Red Hat:enterprise_linux:9::baseos", "Red Hat:9"),
        ("Red Hat:rhel_eus:9.2::appstream", None),
        ("SUSE:Linux Enterprise Server 15 SP5", "SUSE:15 SP5"),
        ("SUSE:Linux Enterprise Module for Basesystem 15 SP5", "SUSE:15 SP5"),
        ("SUSE:Linux Enterprise Server 15 SP5-LTSS", "SUSE:15 SP5"),
        ("SUSE:Linux Enterprise Micro 5.5", None),
        ("openSUSE:Leap 15.5", "openSUSE:Leap 15.5"),
        ("openSUSE:Leap 15.5 NonFree", "openSUSE:Leap 15.5"),
        ("openSUSE:Tumbleweed", "openSUSE:Tumbleweed"),
        ("Mageia:9", "Mageia:9"),
        ("Wolfi", "Wolfi"),
        ("Chainguard", "Chainguard"),
        ("PyPI", "PyPI"),
        ("npm", "npm"),
        ("Go", "Go"),
        ("Maven", "Maven"),
        ("Maven:https://maven.google.com", "Maven"),
        ("crates.io", None),
        ("OSS-Fuzz", None),
        ("", None),
    ],
)
def test_ecosystem_keys(ecosystem: str, key: str | None) -> None:
    assert ecosystem_key(ecosystem) == key


@pytest.mark.parametrize(
    ("distro", "key"),
    [
        (BOOKWORM, "Debian:12"),
        (JAMMY, "Ubuntu:22.04"),
        (Distro("alpine", "3.20.3"), "Alpine:v3.20"),
        (Distro("alpine", "3.22.0_alpha20250108"), "Alpine:v3.22"),
        (Distro("rhel", "9.4"), "Red Hat:9"),
        (Distro("almalinux", "9.4"), "AlmaLinux:9"),
        (Distro("rocky", "9.3"), "Rocky Linux:9"),
        (Distro("sles", "15.5"), "SUSE:15 SP5"),
        (Distro("opensuse-leap", "15.5"), "openSUSE:Leap 15.5"),
        (Distro("opensuse-tumbleweed", "20240801"), "openSUSE:Tumbleweed"),
        (Distro("wolfi", "20230201"), "Wolfi"),
        (Distro("debian", ""), None),  # testing/sid: no release to match against
        (Distro("fedora", "40"), None),
        (Distro("amzn", "2023"), None),
    ],
)
def test_distribution_keys(distro: Distro, key: str | None) -> None:
    assert distro_key(distro) == key


def test_a_deb_package_is_looked_up_by_its_source() -> None:
    libssl = deb("openssl", "3.0.11-1~deb12u2", binary="libssl3")

    assert lookup(libssl, BOOKWORM) == Lookup("Debian:12", "openssl", "3.0.11-1~deb12u2")
    assert lookup(libssl, JAMMY) == Lookup("Ubuntu:22.04", "openssl", "3.0.11-1~deb12u2")


def test_apk_and_rpm_packages_are_looked_up_by_origin_and_source_rpm() -> None:
    libcrypto = Package(
        "apk", "libcrypto3", "3.3.2-r0", "lib/apk/db/installed", "openssl", "3.3.2-r0"
    )
    assert lookup(libcrypto, Distro("alpine", "3.20.3")) == Lookup(
        "Alpine:v3.20", "openssl", "3.3.2-r0"
    )
    libs = Package("rpm", "openssl-libs", "1:3.0.7-27.el9", "var/lib/rpm/rpmdb.sqlite", "openssl")
    assert lookup(libs, Distro("rhel", "9.4")) == Lookup("Red Hat:9", "openssl", "1:3.0.7-27.el9")


def test_an_os_package_without_a_known_distribution_is_not_looked_up() -> None:
    libssl = deb("openssl", "3.0.11-1~deb12u2", binary="libssl3")

    assert lookup(libssl, None) is None
    assert lookup(libssl, Distro("fedora", "40")) is None
    assert lookup(libssl, Distro("alpine", "3.20.3")) is None  # a deb is not an Alpine package


def test_language_packages_are_looked_up_in_their_ecosystem_whatever_the_image() -> None:
    site = "usr/lib/python3/dist-packages/x.dist-info/METADATA"
    assert lookup(Package("pypi", "Flask_Cors", "3.0.8", site), BOOKWORM) == Lookup(
        "PyPI", "flask-cors", "3.0.8"
    )
    assert lookup(Package("npm", "@babel/core", "7.0.0", "app/package.json"), None) == Lookup(
        "npm", "@babel/core", "7.0.0"
    )
    assert lookup(
        Package("maven", "log4j-core", "2.14.1", "app.jar", namespace="org.apache.logging.log4j"),
        None,
    ) == (Lookup("Maven", "org.apache.logging.log4j:log4j-core", "2.14.1"))
    assert lookup(Package("golang", "golang.org/x/net", "v0.16.0", "bin/app"), None) == Lookup(
        "Go", "golang.org/x/net", "v0.16.0"
    )


@pytest.mark.parametrize(
    ("toolchain", "version"),
    [
        ("go1.21.3", "1.21.3"),
        ("go1.21", "1.21.0"),
        ("go1.22rc1", "1.22.0-rc.1"),
        ("v1.20.1", "1.20.1"),
    ],
)
def test_the_go_standard_library_is_stdlib_at_the_toolchain_version(
    toolchain: str, version: str
) -> None:
    stdlib = Package("golang", "stdlib", toolchain, "bin/app")

    assert lookup(stdlib, None) == Lookup("Go", "stdlib", version)


def test_pypi_names_are_normalised_on_both_sides() -> None:
    assert (
        normalise_name("PyPI", "Flask.Cors")
        == normalise_name("PyPI", "flask__cors")
        == "flask-cors"
    )
    assert normalise_name("Maven", "junit:junit") == "junit:junit"


# --- versions: apk (Alpine, Wolfi, Chainguard) -----------------------------------------------

# (lower, higher). Marked "apk-tools" when taken from apk-tools' own test vectors,
# test/unit/version.data in alpinelinux/apk-tools @ 90b974f; the others are versions from
# the Alpine records, or built to show one rule. Every pair was also checked against
# apk-tools' own comparison (src/version.c at that commit, compiled).
APK_ORDER = [
    # musl on Alpine 3.18, 3.19 and 3.20 (ALPINE-CVE-2025-26519). A "_git" suffix (like
    # "_cvs", "_svn", "_hg", "_p") marks a version after the one it follows, so apk puts
    # 1.2.4_git20230717 above 1.2.4 and below 1.2.5; a revision (-rN) is less than a
    # suffix, so 1.2.4-r3 is below it too.
    ("1.2.4", "1.2.4_git20230717"),
    ("1.2.4-r3", "1.2.4_git20230717-r0"),
    ("1.2.4_git20230717-r4", "1.2.4_git20230717-r5"),
    ("1.2.4_git20230717-r5", "1.2.5-r0"),
    ("1.2.4_git20230717", "1.2.5_rc1"),
    # "_alpha", "_beta", "_pre", "_rc" come before the release, in that order.
    ("1.2.4_rc1", "1.2.4"),
    ("1.2.4_alpha", "1.2.4_alpha1"),
    ("1.2.4_alpha2", "1.2.4_beta"),
    ("1.2.4_beta2", "1.2.4_pre1"),
    ("1.2.4_pre1", "1.2.4_rc1"),
    # "_cvs", "_svn", "_git", "_hg", "_p" come after it, in that order.
    ("1.2.4", "1.2.4_p1"),
    ("2.0_cvs", "2.0_svn"),
    ("2.0_svn", "2.0_git"),
    ("2.0_git20240101", "2.0_hg"),
    ("2.0_hg1", "2.0_p1"),
    ("1.2.4-r0", "1.2.4_p1"),
    ("1.2.4", "1.2.4-r0"),
    # One letter after the digits: above the bare version, below a further dot group.
    ("2.0", "2.0a"),
    ("2.0a", "2.0b"),
    ("2.0a", "2.0.1"),
    ("1.1.1v-r0", "1.1.1w-r1"),  # openssl 1.1's lettered releases
    ("1.1.1w-r1", "1.1.1w-r2"),
    ("1.1.1w-r1", "3.0.0-r0"),
    # Digit groups and revisions compare as numbers...
    ("1.9", "1.10"),
    ("3.0.10-r0", "3.0.12-r0"),
    ("1.36.1-r5", "1.36.1-r15"),  # not as strings
    # ...except a group after a dot with a leading zero: apk then compares the two groups
    # as strings, so 1.01 < 1.1 and 1.09 < 1.9. The first group is always a number.
    ("1.01", "1.1"),
    ("1.09", "1.9"),
    ("1.001", "1.01"),
    ("1.0", "1.00"),
    ("8.2.0", "8.2.001"),  # apk-tools
    ("8.2.0015", "8.2.002"),  # apk-tools
    ("1.06-r6", "006"),  # apk-tools
    ("0.1.0_alpha", "0.1.0_alpha2"),  # apk-tools
    ("1.1_alpha1", "1.1"),  # apk-tools
    ("3.1_p16", "3.1_p17"),  # apk-tools
    ("2.5.1-r8", "2.5.1a-r1"),  # apk-tools
    ("1.7", "1.7b"),  # apk-tools
    ("2.12r-r4", "2.12r-r5"),  # apk-tools
    ("2.9.11_pre20051101", "2.9.11_pre20051101-r3"),  # apk-tools
    ("0.20070118", "0.20070207_rc1"),  # apk-tools
    ("1.0~1234", "1.0~2345"),  # apk-tools: a commit hash compares as a string
    ("1.0~1234-r1", "1.0~2345-r0"),  # apk-tools
]


def apk(version: str) -> Version | None:
    """The version as the Alpine key reads it; None when it cannot."""
    cls = version_class("Alpine:v3.19", "ECOSYSTEM")
    assert cls is not None
    return parse_version(cls, version)


@pytest.mark.parametrize(("lower", "higher"), APK_ORDER)
def test_apk_versions_order_as_apk_does(lower: str, higher: str) -> None:
    low, high = apk(lower), apk(higher)
    assert low is not None
    assert high is not None
    assert compare(low, high) == -1
    assert compare(high, low) == 1
    assert compare(low, low) == compare(high, high) == 0
    assert low == apk(lower)
    assert low != high


@pytest.mark.parametrize(
    ("left", "right"), [("1.2.4-r01", "1.2.4-r1"), ("01.2", "1.2"), ("1.2_p01", "1.2_p1")]
)
def test_apk_numbers_other_than_dot_groups_are_equal_by_value(left: str, right: str) -> None:
    low, high = apk(left), apk(right)
    assert low is not None
    assert high is not None
    assert compare(low, high) == 0
    assert low == high


@pytest.mark.parametrize(
    "version",
    [
        "1.2.4_git20230717-r4",
        "2.12r-r4",
        # From apk-tools' validity vectors: several suffixes in a row, a commit hash.
        "0.1_pre2~1234abcd",
        "0.1_p1_pre2",
        "0.1_alpha1_pre2",
        "0.1_git20240101_pre1",
    ],
)
def test_apk_reads_what_apk_accepts(version: str) -> None:
    assert apk(version) is not None


@pytest.mark.parametrize(
    "version",
    [
        "1..2",
        "abc",
        "1.2_foo",
        "",
        # OpenSSL's two-letter releases: apk allows one letter, so apk itself rejects these.
        "0.9.8zh-r0",
        "v1.2",  # univers would drop the "v"; apk does not
        "1.2 ",
        "1.2.4_GIT20230717",
        # From apk-tools' validity vectors.
        "0.1a1",
        "0.1_pre2~",
        "0.1_pre2~1234abcd_pre1",
        "0.1-r",
        "0.1-r2_pre1",
        "0.1-r2-r3",
        ".1",
        "0.1_",
        "0.1__alpha",
        "0.1_1_alpha",
    ],
)
def test_what_apk_rejects_is_unreadable_and_never_raises(version: str) -> None:
    assert apk(version) is None
    entry = ecosystem_range(("introduced", "0"), ("fixed", "1.2.5-r0"))
    assert affected_version(entry, "Alpine:v3.19", version) is None
    # An event apk rejects leaves its range unevaluated; the versions list still applies.
    garbled = ecosystem_range(("introduced", "0"), ("fixed", version))
    assert affected_version(garbled, "Alpine:v3.19", "1.2.4-r0") is None
    listed = Affected("Alpine:v3.19", "musl", "", garbled.ranges, (version,))
    match = affected_version(listed, "Alpine:v3.19", version)
    assert match is not None
    assert match.introduced is None


# --- matching: real records ------------------------------------------------------------------


def test_a_debian_advisory_fixed_version_is_not_affected_and_the_one_below_is() -> None:
    # DLA-3008-1: openssl in Debian 9, fixed in 1.1.0l-1~deb9u6.
    query = lookup(deb("openssl", "1.1.0l-1~deb9u5", binary="libssl1.1"), STRETCH)
    assert query is not None
    assert fixed_in("DLA-3008-1", query) == "1.1.0l-1~deb9u6"
    fixed = lookup(deb("openssl", "1.1.0l-1~deb9u6", binary="libssl1.1"), STRETCH)
    assert fixed is not None
    assert fixed_in("DLA-3008-1", fixed) is None


def test_a_deb_package_is_matched_by_source_name_not_binary_name() -> None:
    libssl = Package("deb", "libssl1.1", "1.1.0l-1~deb9u5", "var/lib/dpkg/status")
    query = lookup(libssl, STRETCH)
    assert query == Lookup("Debian:9", "libssl1.1", "1.1.0l-1~deb9u5")
    assert fixed_in("DLA-3008-1", query) is None


def test_an_advisory_for_another_debian_release_does_not_match() -> None:
    query = lookup(deb("openssl", "1.1.0l-1~deb9u5"), BOOKWORM)
    assert query is not None
    assert fixed_in("DLA-3008-1", query) is None


def test_debian_and_ubuntu_advisories_stay_on_their_own_distribution() -> None:
    pam_jammy = lookup(deb("pam", "1.4.0-11ubuntu2.3", binary="libpam0g"), JAMMY)
    pam_bookworm = lookup(deb("pam", "1.4.0-11ubuntu2.3", binary="libpam0g"), BOOKWORM)
    openssl_jammy = lookup(deb("openssl", "1.1.0l-1~deb9u5"), JAMMY)
    assert pam_jammy is not None
    assert pam_bookworm is not None
    assert openssl_jammy is not None

    assert fixed_in("CVE-2024-22365", pam_jammy) == "1.4.0-11ubuntu2.4"
    assert fixed_in("CVE-2024-22365", pam_bookworm) is None
    assert fixed_in("DLA-3008-1", openssl_jammy) is None


def test_ubuntu_fixes_per_release() -> None:
    def pam(version: str, release: str) -> Lookup:
        query = lookup(deb("pam", version), Distro("ubuntu", release))
        assert query is not None
        return query

    assert fixed_in("CVE-2024-22365", pam("1.4.0-11ubuntu2.4", "22.04")) is None
    assert fixed_in("CVE-2024-22365", pam("1.3.1-5ubuntu4.6", "20.04")) == "1.3.1-5ubuntu4.7"
    # 14.04 is only in the Pro record; it is matched under the same release key.
    assert fixed_in("CVE-2024-22365", pam("1.1.8-1ubuntu2.2", "14.04")) == "1.1.8-1ubuntu2.2+esm4"


def test_an_ubuntu_kernel_record_without_a_fix() -> None:
    query = lookup(deb("linux", "3.13.0-170.220"), Distro("ubuntu", "14.04"))
    assert query is not None
    assert fixed_in("UBUNTU-CVE-2025-38094", query) == ""


def test_alpine_revisions_compare_as_numbers() -> None:
    assert musl("1.2.5-r0", "3.20.3") == "1.2.5-r1"
    assert musl("1.2.5-r1", "3.20.3") is None
    assert musl("1.2.5-r9", "3.22.1") == "1.2.5-r10"  # r9 < r10, not as strings
    assert musl("1.2.5-r10", "3.22.1") is None
    assert musl("0.9.12-r0", "3.20.3") is None  # below "introduced": 0.9.13


def test_alpine_git_snapshot_versions_are_matched() -> None:
    # Alpine 3.19 ships a snapshot of musl's git taken after 1.2.4; its range is
    # [0.9.13, 1.2.4_git20230717-r5). univers's AlpineLinuxVersion could not read "_git",
    # so the range used to be skipped and r4 reported as not affected.
    assert musl("1.2.4_git20230717-r4", "3.19.4") == "1.2.4_git20230717-r5"
    assert musl("1.2.4_git20230717-r0", "3.19.4") == "1.2.4_git20230717-r5"
    assert musl("1.2.4_git20230717-r5", "3.19.4") is None
    assert musl("1.2.4_git20230717-r6", "3.19.4") is None
    # Alpine 3.18's 1.2.4-r3 sits below the snapshot (see test_apk_versions_order_as_apk_does).
    assert musl("1.2.4-r3", "3.19.4") == "1.2.4_git20230717-r5"
    assert musl("1.2.5-r0", "3.19.4") is None


def test_several_introduced_fixed_pairs_in_one_range() -> None:
    # PYSEC-2021-98 (django): [0, 2.2.24), [3.0, 3.1.12), [3.2, 3.2.4).
    def django(version: str) -> str | None:
        return fixed_in("PYSEC-2021-98", Lookup("PyPI", "django", version))

    assert django("2.2.23") == "2.2.24"
    assert django("2.2.24") is None
    assert django("2.2.28") is None  # between two spans
    assert django("3.0") == "3.1.12"
    assert django("3.1.11") == "3.1.12"
    assert django("3.1.12") is None
    assert django("3.1.14") is None  # between two spans
    assert django("3.2") == "3.2.4"
    assert django("3.2.4rc1") == "3.2.4"
    assert django("3.2.4") is None
    assert django("4.0") is None


def test_a_pypi_range_with_an_introduced_version() -> None:
    def requests(version: str) -> str | None:
        query = lookup(Package("pypi", "Requests", version, "site-packages"), None)
        assert query is not None
        return fixed_in("PYSEC-2023-74", query)

    assert requests("2.2.1") is None
    assert requests("2.3.0") == "2.31.0"
    assert requests("2.31.0rc1") == "2.31.0"
    assert requests("2.31.0") is None


def test_last_affected_is_inclusive() -> None:
    # GHSA-3pxv-7cmr-fjr4: log4j-core [2.0-alpha1, 2.25.4) and [3.0.0-alpha1, 3.0.0-beta3].
    def log4j(version: str) -> str | None:
        return fixed_in(
            "GHSA-3pxv-7cmr-fjr4", Lookup("Maven", "org.apache.logging.log4j:log4j-core", version)
        )

    assert log4j("3.0.0-beta3") == ""
    assert log4j("3.0.0-alpha1") == ""
    assert log4j("3.0.0-beta4") is None
    assert log4j("3.0.0") is None
    assert log4j("2.25.3") == "2.25.4"
    assert log4j("2.25.4") is None


def test_maven_versions() -> None:
    # GHSA-269g-pwp5-87pp: junit [4.7, 4.13.1).
    def junit(version: str) -> str | None:
        return fixed_in("GHSA-269g-pwp5-87pp", Lookup("Maven", "junit:junit", version))

    assert junit("4.6") is None
    assert junit("4.7") == "4.13.1"
    assert junit("4.13-rc-1") == "4.13.1"
    assert junit("4.13") == "4.13.1"
    assert junit("4.13.1") is None
    assert junit("4.13.2") is None


def test_npm_semver_prereleases_sort_before_the_release() -> None:
    def ansi_html(version: str) -> str | None:
        return fixed_in("GHSA-whgm-jr23-g3j9", Lookup("npm", "ansi-html", version))

    assert ansi_html("0.0.7") == "0.0.8"
    assert ansi_html("0.0.8-beta.1") == "0.0.8"
    assert ansi_html("0.0.8") is None
    assert ansi_html("0.0.9") is None


def test_go_modules_match_with_or_without_the_v() -> None:
    def x_net(version: str) -> str | None:
        return fixed_in("GO-2023-2102", Lookup("Go", "golang.org/x/net", version))

    assert x_net("v0.16.0") == x_net("0.16.0") == "0.17.0"
    assert x_net("v0.17.0") is None


def test_go_pseudo_versions() -> None:
    # GO-2022-0493: golang.org/x/sys fixed in 0.0.0-20220412211240-33da011f77ad.
    def x_sys(version: str) -> str | None:
        return fixed_in("GO-2022-0493", Lookup("Go", "golang.org/x/sys", version))

    assert x_sys("v0.0.0-20220408201424-a24fb2fb8a0f") == "0.0.0-20220412211240-33da011f77ad"
    assert x_sys("v0.0.0-20220412211240-33da011f77ad") is None
    assert x_sys("v0.1.0") is None


def test_the_go_standard_library() -> None:
    # GO-2023-2102: stdlib [0, 1.20.10) and [1.21.0-0, 1.21.3).
    def stdlib(toolchain: str) -> str | None:
        query = lookup(Package("golang", "stdlib", toolchain, "bin/app"), None)
        assert query is not None
        return fixed_in("GO-2023-2102", query)

    assert stdlib("go1.20.9") == "1.20.10"
    assert stdlib("go1.20.10") is None
    assert stdlib("go1.21rc2") == "1.21.3"
    assert stdlib("go1.21.2") == "1.21.3"
    assert stdlib("go1.21.3") is None


def test_a_record_with_only_a_versions_list() -> None:
    # MAL-2026-443 lists 1q847's versions one by one: 1.1.2 is not among them.
    def package(version: str) -> str | None:
        return fixed_in("MAL-2026-443", Lookup("PyPI", "1q847", version))

    assert package("1.1.1") == ""
    assert package("1.1.2") is None
    assert package("1.1.8") == ""
    assert package("1.1.9") is None


def test_git_ranges_are_ignored_but_their_versions_list_is_not() -> None:
    [boost] = advisory("OSV-2018-389").affected

    assert affected_version(boost, "OSS-Fuzz", "boost-1.70.0") is not None
    assert affected_version(boost, "OSS-Fuzz", "c47cf1cf5ae18d4bd98f6376ab2949785a5d0cc2") is None


def test_a_withdrawn_advisory_never_matches() -> None:
    withdrawn = advisory("GO-2022-0617")
    query = Lookup("Go", "k8s.io/kubernetes", "v1.30.0")

    assert affected_version(withdrawn.affected[0], "Go", "v1.30.0") is not None
    assert match_advisory(withdrawn, query) is None


def test_upstream_advisories_never_match_a_distribution_package() -> None:
    # Debian's python3-requests is built from the "requests" source at an upstream version
    # that PYSEC-2023-74 lists, but a PyPI range says nothing about Debian's patched build.
    requests = lookup(deb("requests", "2.28.1+dfsg-1", binary="python3-requests"), BOOKWORM)
    assert requests == Lookup("Debian:12", "requests", "2.28.1+dfsg-1")
    assert fixed_in("PYSEC-2023-74", requests) is None
    golang = lookup(deb("golang-1.19", "1.19.8-2", binary="golang-1.19-go"), BOOKWORM)
    assert golang is not None
    assert fixed_in("GO-2023-2102", golang) is None


# --- matching: the algorithm on cases no real record has ---------------------------------------


def test_debian_epochs_outrank_upstream_versions() -> None:
    entry = ecosystem_range(("introduced", "0"), ("fixed", "1:1.0-1"))

    assert affected_version(entry, "Debian:12", "2.0-1") is not None  # 2.0-1 < 1:1.0-1
    assert affected_version(entry, "Debian:12", "1:1.0-1") is None
    assert affected_version(entry, "Debian:12", "1:0.9-1") is not None


def test_a_debian_tilde_sorts_before_the_release() -> None:
    entry = ecosystem_range(("introduced", "0"), ("fixed", "1.2.3-1"))

    assert affected_version(entry, "Debian:12", "1.2.3~rc1-1") is not None
    assert affected_version(entry, "Debian:12", "1.2.3-1~deb12u1") is not None
    assert affected_version(entry, "Debian:12", "1.2.3-1") is None
    assert affected_version(entry, "Debian:12", "1.2.3-1+deb12u1") is None


@pytest.mark.parametrize(
    ("version", "affected"),
    [("0.9", True), ("1.5", True), ("1.9.9", True), ("2.0", False), ("3.0", False)],
)
def test_a_limit_bounds_the_range(version: str, affected: bool) -> None:
    entry = ecosystem_range(("introduced", "0"), ("limit", "2.0"))

    assert (affected_version(entry, "PyPI", version) is not None) is affected


def test_a_limit_of_star_is_no_limit_and_several_limits_widen() -> None:
    unlimited = ecosystem_range(("introduced", "1.0"), ("limit", "*"))
    assert affected_version(unlimited, "PyPI", "99.0") is not None
    assert affected_version(unlimited, "PyPI", "0.9") is None

    two = ecosystem_range(("introduced", "0"), ("limit", "1.0"), ("limit", "3.0"))
    assert affected_version(two, "PyPI", "2.5") is not None
    assert affected_version(two, "PyPI", "3.0") is None


def test_several_ranges_in_one_entry_each_count() -> None:
    def semver(*events: tuple[EventKind, str]) -> Range:
        return Range("SEMVER", tuple(Event(kind, version) for kind, version in events))

    entry = Affected(
        "npm",
        "x",
        "",
        (
            semver(("introduced", "1.0.0"), ("fixed", "1.0.2")),
            Range("GIT", (Event("introduced", "0" * 40),), "https://example.invalid/x.git"),
            semver(("introduced", "3.0.0"), ("fixed", "3.2.5")),
        ),
        (),
    )

    first, second = (affected_version(entry, "npm", v) for v in ("1.0.1", "3.2.4"))
    assert first is not None
    assert second is not None
    assert (first.fixed, second.fixed) == ("1.0.2", "3.2.5")
    assert affected_version(entry, "npm", "2.0.0") is None
    assert affected_version(entry, "npm", "3.2.5") is None


def test_events_out_of_order_are_sorted_first() -> None:
    entry = ecosystem_range(
        ("fixed", "3.2.5"), ("introduced", "3.0.0"), ("fixed", "1.0.2"), ("introduced", "1.0.0")
    )

    match = affected_version(entry, "npm", "3.1.0")
    assert match is not None
    assert (match.introduced, match.fixed) == ("3.0.0", "3.2.5")
    assert affected_version(entry, "npm", "2.0.0") is None
    assert affected_version(entry, "npm", "0.9.0") is None


def test_unreadable_versions_never_raise() -> None:
    entry = ecosystem_range(("introduced", "0"), ("fixed", "1.2.3-1"))
    assert affected_version(entry, "Debian:12", "not a version!") is None
    garbled = ecosystem_range(("introduced", "0"), ("fixed", "$$$"))
    assert affected_version(garbled, "PyPI", "1.0") is None
    listed = Affected("PyPI", "x", "", garbled.ranges, ("1.0",))
    match = affected_version(listed, "PyPI", "1.0")
    assert match is not None
    assert match.introduced is None
