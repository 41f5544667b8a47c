"""Issue 10: userlist.txt holds the server's own SCRAM secret, learned in a
SCRAM exchange of the entrypoint's own during the wait of run and init, never
the plaintext password where a secret or an md5 hash serves.  Every row of the
README table against a real PostgreSQL through a real pgbouncer (this file
runs against Debian's pgbouncer and the static one of the image)."""
import base64
import hashlib
import hmac
import os
import pathlib
import re
import socket
import struct
import subprocess
import threading

import pytest

from conftest import (Postgres, base_env, entrypoint, free_port, psql, run_user_spec)

counter = [0]


def new_user(pg, password, db=None):
    counter[0] += 1
    user = f"s{counter[0]}_{pg.encryption.replace('-', '')}"
    pg.add_user(user, password, db or user)
    return user, db or user


def userlist_entries(config_dir):
    """{user: secret} as pgbouncer reads userlist.txt ("" is one ")."""
    out = {}
    for line in (config_dir / "userlist.txt").read_text().splitlines():
        m = re.match(r'^"((?:[^"]|"")*)" "((?:[^"]|"")*)"', line)
        if m:
            out[m.group(1).replace('""', '"')] = m.group(2).replace('""', '"')
    return out


def rolpassword(pg, user):
    return pg.sql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{user}'")


def files_with(directory, needle):
    """Every file under DIRECTORY whose bytes contain NEEDLE."""
    hits = []
    for p in pathlib.Path(directory).rglob("*"):
        if p.is_file() and needle.encode() in p.read_bytes():
            hits.append(p.name)
    return hits


def init(config_dir, env, *extra):
    return entrypoint(["init", "--config-dir", str(config_dir), *extra], env)


PASSWORDS = ["pw-plain", "p@ss:w/rd?#%&=", "it's \"quoted\" \\ back", " lead and trail ",
             "\u00fcn\u00efc\u00f6d\u00e9-\u5bc6\u7801-\u00df", "\uff21\uff22\uff23-fullwidth",
             "soft\u00adhyphen"]


@pytest.mark.parametrize("password", PASSWORDS, ids=range(len(PASSWORDS)))
def test_init_writes_the_servers_own_scram_secret_byte_for_byte(pg, config_dir, password):
    user, db = new_user(pg, password)
    r = init(config_dir, base_env(pg, user, password, db, free_port()))
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == rolpassword(pg, user)
    assert f'userlist.txt holds the server\'s SCRAM secret of "{user}"' in r.stderr
    assert files_with(config_dir, password) == []
    assert password not in r.stdout + r.stderr


@pytest.mark.parametrize("mode", ["prefer", "require", "verify-ca", "verify-full"])
def test_secret_learned_over_tls_as_server_tls_sslmode_asks(pg_tls, config_dir, mode):
    user, db = new_user(pg_tls, "pw-tls-learn")
    env = base_env(pg_tls, user, "pw-tls-learn", db, free_port(), DB_HOST="localhost",
                   SERVER_TLS_SSLMODE=mode, SERVER_TLS_CA_FILE=str(pg_tls.ca_file))
    r = init(config_dir, env)
    assert r.returncode == 0, r.stderr
    assert userlist_entries(config_dir)[user] == rolpassword(pg_tls, user)
