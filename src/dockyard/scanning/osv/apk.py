"""Alpine package versions, ordered the way apk-tools 3 orders them (its src/version.c).

A version is dot-separated digit groups, an optional lowercase letter, any number of
suffixes each with an optional number (`_alpha`, `_beta`, `_pre`, `_rc` sort before the
release, `_cvs`, `_svn`, `_git`, `_hg`, `_p` after it), an optional `~` commit hash and an
optional `-rN` revision. apk reads one as a list of tokens and compares two lists token by
token; here each version becomes a sort key that orders the same way.
"""

from __future__ import annotations

import re

from univers.versions import Version

_VERSION = re.compile(
    r"""
    (?P<groups>[0-9]+(?:\.[0-9]+)*)
    (?P<letter>[a-z])?
    (?P<suffixes>(?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*)
    (?:~(?P<commit>[0-9a-f]+))?
    (?:-r(?P<revision>[0-9]+))?
    """,
    re.VERBOSE,
)
_SUFFIX = re.compile(r"_([a-z]+)([0-9]*)")

# apk's suffix order, with the release itself ("") between `_rc` and `_cvs`.
_SUFFIXES = ("alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p")
_RELEASE = _SUFFIXES.index("")

# apk's token kinds, numbered as apk numbers them.
_FIRST_GROUP, _GROUP, _LETTER, _SUFFIX_NAME, _SUFFIX_NUMBER, _COMMIT, _REVISION, _END = range(8)

# A token is (class, number, text). apk compares two versions token by token; where their
# kinds part, the version whose next token is of the later kind is the lower one (1.2 <
# 1.2-r1 < 1.2_p1 < 1.2a < 1.2.1: the end is the latest kind of all), except that a
# pre-release suffix is lower than anything (1.2_rc1 < 1.2). The class encodes exactly that.
_Token = tuple[int, int, str]
_PRE_RELEASE_CLASS = -1


def _token(kind: int, number: int = 0, text: str = "") -> _Token:
    return (_END - kind, number, text)


def _group(text: str) -> _Token:
    # apk compares a digit group that has a leading zero as a string (so 1.01 < 1.1 and
    # 8.2.0 < 8.2.001), others as numbers. A group starting with "0" always sorts below one
    # that does not, so -1 puts the string-compared ones first.
    if text.startswith("0"):
        return _token(_GROUP, -1, text)
    return _token(_GROUP, int(text))


def _suffix(name: str) -> _Token:
    rank = _SUFFIXES.index(name)
    if rank < _RELEASE:
        return (_PRE_RELEASE_CLASS, rank, "")
    return _token(_SUFFIX_NAME, rank)


def sort_key(version: str) -> tuple[_Token, ...]:
    """The key that orders versions as apk-tools does; ValueError for one apk rejects."""
    match = _VERSION.fullmatch(version)
    if match is None:
        raise ValueError(f"{version!r} is not an apk version")
    first, *groups = match["groups"].split(".")
    tokens = [_token(_FIRST_GROUP, int(first)), *map(_group, groups)]
    if match["letter"]:
        tokens.append(_token(_LETTER, text=match["letter"]))
    for name, number in _SUFFIX.findall(match["suffixes"]):
        tokens.append(_suffix(name))
        if number:
            tokens.append(_token(_SUFFIX_NUMBER, int(number)))
    if match["commit"]:
        tokens.append(_token(_COMMIT, text=match["commit"]))
    if match["revision"]:
        tokens.append(_token(_REVISION, int(match["revision"])))
    tokens.append(_token(_END))
    return tuple(tokens)


class ApkVersion(Version):
    """An Alpine package version, as a univers Version ordered by `sort_key`."""

    @classmethod
    def normalize(cls, string: str) -> str:
        # apk reads the version as written: univers would strip spaces and a leading "v".
        return string

    @classmethod
    def is_valid(cls, string: str) -> bool:
        return _VERSION.fullmatch(string) is not None

    @classmethod
    def build_value(cls, string: str) -> tuple[_Token, ...]:
        return sort_key(string)

    def __str__(self) -> str:
        # univers prints the value, which here is the sort key, not a version.
        return str(self.string)
