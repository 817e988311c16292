"""An OpenLDAP server of the test session's own: slapd from a slapd.conf in a temp dir.

The tests start it themselves (slapadd seeds the mdb database, then slapd runs
in the foreground on 127.0.0.1) rather than use the system's slapd service,
and throw it away at the end. It listens twice: ldap:// (``url``) and ldaps://
(``ldaps_url``) with a self-signed certificate for 127.0.0.1 that no system
trusts (its file is ``certificate``). Searches bind as ``cn=searcher``, an account
that may read the tree and nothing else, as a deployment's would; the rootdn
exists only to administer the database.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from dockyard.settings import LdapSettings
from tests.servers import free_port

SUFFIX = "dc=dockyard,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "admin-secret"
SEARCH_DN = f"cn=searcher,{SUFFIX}"
SEARCH_PASSWORD = "searcher-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
# uid -> (RDN, password, mail, cn, displayName). bob has no mail; carol's displayName
# differs from her cn; erin's DN holds filter metacharacters, so that her group
# lookup finds nothing unless the DN is escaped in the member filter.
USERS = {
    "alice": ("uid=alice", "alice-secret", "alice@dockyard.test", "Alice Liddell", ""),
    "bob": ("uid=bob", "bob-secret", "", "Bob Builder", ""),
    "carol": ("uid=carol", "carol-secret", "carol@dockyard.test", "Carol Danvers", "Captain"),
    "erin": ("cn=Erin (ops)*", "erin-secret", "erin@dockyard.test", "Erin (ops)*", ""),
}
# group cn -> member uids
MEMBERS = {
    "developers": ("alice", "bob"),
    "dockyard-admins": ("carol",),
    "auditors": ("bob", "erin"),
}


def user_dn(uid: str) -> str:
    return f"{USERS[uid][0]},{PEOPLE}"


def group_dn(name: str) -> str:
    return f"cn={name},{GROUPS}"


def _ssha(password: str) -> str:
    """A {SSHA} userPassword, as slappasswd writes it, rather than storing clear text."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _self_signed_certificate(root: Path) -> None:
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(root / "key.pem"), "-out", str(root / "certificate.pem"),
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip


def _config(root: Path) -> str:
    schemas = "".join(
        f"include /etc/ldap/schema/{name}.schema\n"
        for name in ("core", "cosine", "inetorgperson", "nis")
    )
    return f"""{schemas}
modulepath /usr/lib/ldap
moduleload back_mdb
# As Active Directory does, answer a DN with an empty password as an anonymous
# success (an "unauthenticated bind"), so that the tests show dockyard refuses it.
allow bind_anon_dn
pidfile {root}/slapd.pid
argsfile {root}/slapd.args
TLSCertificateFile {root}/certificate.pem
TLSCertificateKeyFile {root}/key.pem

database mdb
maxsize 16777216
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {root}/db
access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by dn.exact="{SEARCH_DN}" read
    by * none
"""


def _seed() -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: dockyard\n"
        "o: dockyard\n",
        f"dn: {SEARCH_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: searcher\nuserPassword: {_ssha(SEARCH_PASSWORD)}\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n",
    ]
    for uid, (_, password, mail, cn, display_name) in USERS.items():
        entries.append(
            f"dn: {user_dn(uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\n"
            f"sn: {cn.split()[-1]}\nuserPassword: {_ssha(password)}\n"
            + (f"mail: {mail}\n" if mail else "")
            + (f"displayName: {display_name}\n" if display_name else "")
        )
    for name, uids in MEMBERS.items():
        members = "".join(f"member: {user_dn(uid)}\n" for uid in uids)
        entries.append(f"dn: {group_dn(name)}\nobjectClass: groupOfNames\ncn: {name}\n{members}")
    return "\n".join(entries)


class SlapdServer:
    """One throw-away slapd with the users and groups above."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dockyard-slapd-"))
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.tls_port = free_port()
        self.ldaps_url = f"ldaps://127.0.0.1:{self.tls_port}"
        self.certificate = self.root / "certificate.pem"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> SlapdServer:
        """Seed, start and wait until both ports listen; on any failure, leave nothing behind."""
        if not Path("/usr/sbin/slapd").exists():
            raise RuntimeError("OpenLDAP is not installed: apt-get install slapd ldap-utils")
        try:
            self._launch(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, timeout: float) -> None:
        (self.root / "db").mkdir()
        _self_signed_certificate(self.root)
        config = self.root / "slapd.conf"
        config.write_text(_config(self.root))
        (self.root / "seed.ldif").write_text(_seed())
        subprocess.run(
            ["/usr/sbin/slapadd", "-f", str(config), "-l", str(self.root / "seed.ldif")],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        with open(self.root / "slapd.log", "ab") as log:
            # -d keeps slapd in the foreground, so that the Popen is the server itself.
            self._process = subprocess.Popen(
                [
                    "/usr/sbin/slapd",
                    "-f",
                    str(config),
                    "-h",
                    f"{self.url}/ {self.ldaps_url}/",
                    "-d",
                    "0",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        for port in (self.port, self.tls_port):
            self._wait_until_listening(port, deadline)

    def _wait_until_listening(self, port: int, deadline: float) -> None:
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"slapd exited:\n{(self.root / 'slapd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def settings(self, **overrides: Any) -> LdapSettings:
        """Settings that log in against this server, with ``overrides`` applied."""
        values: dict[str, Any] = {
            "url": self.url,
            "search_dn": SEARCH_DN,
            "search_password": SEARCH_PASSWORD,
            "base_dn": PEOPLE,
            "uid_attribute": "uid",
            "group_base_dn": GROUPS,
            "admin_group_dn": group_dn("dockyard-admins"),
            "timeout_seconds": 5.0,
        }
        return LdapSettings(**(values | overrides))

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> SlapdServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
