"""The binary renders config that Debian's real pgbouncer loads, in front of a
real PostgreSQL with scram-sha-256 passwords; a client then logs in through
the pool.  Also: the seed's faults B1, B2, B3 and B13 cannot happen here."""
import hashlib
import os
import pathlib
import stat
import subprocess
import urllib.parse

import pytest

from utils import new_user
from utils import (BIN, as_run_user, base_env, entrypoint, free_port, process_env, psql,
                      run_user_ids, run_user_spec, shown, shown_names)

SPECIALS = ["@", ":", "/", "?", "#", "%", "'", '"', "\\", " ", "*", ",", "=", ";", "$"]
counter = [0]


@pytest.mark.parametrize("special", SPECIALS + ["".join(SPECIALS)],
                         ids=[f"char{ord(c)}" for c in SPECIALS] + ["all"])
def test_client_queries_through_pool_with_special_password(pg, config_dir, bouncers, special):
    password = f"pa{special}ss{special}"
    user = db = new_user(pg, password)
    port = free_port()
    r = entrypoint(["render", "--config-dir", str(config_dir)],
                   base_env(pg, user, password, db, port))
    assert r.returncode == 0, r.stderr
    bouncers(config_dir, port)
    q = psql(port, user, password, db, "select current_user, current_database()")
    assert q.returncode == 0, q.stderr
    assert q.stdout.strip() == f"{user}|{db}"


def test_database_url_with_percent_encoded_password(pg, config_dir, bouncers):
    password = "p@ss:w/rd?#%'\" x"
    user = db = new_user(pg, password)
    port = free_port()
    url = (f"postgresql://{user}:{urllib.parse.quote(password, safe='')}"
           f"@127.0.0.1:{pg.port}/{db}?sslmode=disable")
    env = {"DATABASE_URL": url, "LISTEN_ADDR": "127.0.0.1", "LISTEN_PORT": str(port),
           "UNIX_SOCKET_DIR": "", "PGBOUNCER_RUN_USER": run_user_spec()}
    r = entrypoint(["render", "--config-dir", str(config_dir)], env)
    assert r.returncode == 0, r.stderr
    assert "server_tls_sslmode = disable" in (config_dir / "pgbouncer.ini").read_text()
    bouncers(config_dir, port)
    q = psql(port, user, password, db, "select 42")
    assert q.stdout.strip() == "42", q.stderr


def test_b2_pool_is_named_after_db_name_not_db(pg, config_dir, bouncers):
    db = "scicommons"
    user = new_user(pg, "pw-b2", db=db)
    port = free_port()
    assert entrypoint(["render", "--config-dir", str(config_dir)],
                      base_env(pg, user, "pw-b2", db, port)).returncode == 0
    bouncers(config_dir, port)
    assert psql(port, user, "pw-b2", "scicommons", "select 1").stdout.strip() == "1"
    wrong = psql(port, user, "pw-b2", "db", "select 1")
    assert wrong.returncode != 0 and "no such database" in wrong.stderr


@pytest.mark.parametrize("auth_type", ["scram-sha-256", "md5", "plain", "trust", "any"])
@pytest.mark.parametrize("server", ["pg", "pg_md5"])
def test_b3_every_auth_type_logs_in_to_scram_and_md5_servers(request, server, auth_type,
                                                             config_dir, bouncers):
    """The seed's md5 userlist could not log in to a SCRAM server ("wrong
    password type").  The userlist we write works for every client auth type
    against both kinds of server."""
    server_pg = request.getfixturevalue(server)
    user = db = new_user(server_pg, "pw-b3")
    port = free_port()
    env = base_env(server_pg, user, "pw-b3", db, port, AUTH_TYPE=auth_type)
    assert entrypoint(["render", "--config-dir", str(config_dir)], env).returncode == 0
    b = bouncers(config_dir, port)
    # trust and any let the client in without checking its password; the
    # server login still needs the one the entrypoint wrote
    client_pw = "not-checked" if auth_type in ("trust", "any") else "pw-b3"
    q = psql(port, user, client_pw, db, "select 'ok'")
    assert q.stdout.strip() == "ok", q.stderr + b.log.read_text()
    assert "wrong password type" not in b.log.read_text()


def test_b1_supplied_userlist_with_seed_md5_order_is_refused(pg, config_dir):
    user = db = new_user(pg, "pw-b1")
    seed_hash = "md5" + hashlib.md5((user + "pw-b1").encode()).hexdigest()  # seed's order
    (config_dir / "userlist.txt").write_text(f'"{user}" "{seed_hash}"\n')
    r = entrypoint(["render", "--config-dir", str(config_dir)],
                   base_env(pg, user, "pw-b1", db, free_port()))
    assert r.returncode == 78
    assert "md5(password + user name), in that order" in r.stderr
    assert "pw-b1" not in r.stderr + r.stdout


def test_b1_supplied_userlist_with_right_md5_order_serves_md5_server(pg_md5, config_dir, bouncers):
    user = db = new_user(pg_md5, "pw-b1ok")
    good = "md5" + hashlib.md5(("pw-b1ok" + user).encode()).hexdigest()
    (config_dir / "userlist.txt").write_text(f'"{user}" "{good}"\n')
    port = free_port()
    r = entrypoint(["render", "--config-dir", str(config_dir)],
                   base_env(pg_md5, user, "pw-b1ok", db, port, AUTH_TYPE="md5"))
    assert r.returncode == 0, r.stderr
    assert (config_dir / "userlist.txt").read_text() == f'"{user}" "{good}"\n'  # left as it is
    bouncers(config_dir, port)
    assert psql(port, user, "pw-b1ok", db, "select 1").stdout.strip() == "1"


def test_b13_db_user_can_show_pools(pg, config_dir, bouncers):
    user = db = new_user(pg, "pw-b13")
    port = free_port()
    assert entrypoint(["render", "--config-dir", str(config_dir)],
                      base_env(pg, user, "pw-b13", db, port)).returncode == 0
    bouncers(config_dir, port)
    psql(port, user, "pw-b13", db, "select 1")
    q = psql(port, user, "pw-b13", "pgbouncer", "SHOW POOLS")
    assert q.returncode == 0, q.stderr
    assert f"{db}|{user}|" in q.stdout


def test_secret_from_file(pg, config_dir, bouncers, workdir):
    user = db = new_user(pg, "pw from file")
    secret = workdir / f"secret-{user}"
    secret.write_text("pw from file\n")
    env = base_env(pg, user, "unused", db, port := free_port())
    del env["DB_PASSWORD"]
    env["DB_PASSWORD_FILE"] = str(secret)
    assert entrypoint(["render", "--config-dir", str(config_dir)], env).returncode == 0
    bouncers(config_dir, port)
    assert psql(port, user, "pw from file", db, "select 1").stdout.strip() == "1"


def test_files_are_0600_and_owned_by_the_run_user(pg, workdir):
    target = workdir / "fresh-dir"  # does not exist yet: created and chowned
    r = entrypoint(["render", "--config-dir", str(target), "--user", run_user_spec()],
                   base_env(pg, "app", "pw", "app", free_port()))
    assert r.returncode == 0, r.stderr
    uid, gid = run_user_ids() if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    for name in ("pgbouncer.ini", "userlist.txt"):
        st = (target / name).stat()
        assert stat.S_IMODE(st.st_mode) == 0o600
        assert (st.st_uid, st.st_gid) == (uid, gid)
    assert not [p for p in target.iterdir() if ".tmp." in p.name]
    # the two names are links to one generation, which .pgbe-current names
    gen = os.readlink(target / ".pgbe-current")
    for name in ("pgbouncer.ini", "userlist.txt"):
        assert os.readlink(target / name) == f".pgbe-current/{name}"
        assert (target / gen / name).read_bytes() == (target / name).read_bytes()
    assert stat.S_IMODE((target / gen).stat().st_mode) == 0o700


def test_check_prints_redacted_config_and_writes_nothing(pg, config_dir):
    r = entrypoint(["check", "--config-dir", str(config_dir)],
                   base_env(pg, "app", "hunter2-secret", "app", free_port()))
    assert r.returncode == 0, r.stderr
    assert "[databases]" in r.stdout and '"app" "<redacted>"' in r.stdout
    assert "hunter2-secret" not in r.stdout + r.stderr
    assert "configuration OK" in r.stderr
    assert list(config_dir.iterdir()) == []


def test_invalid_input_leaves_previous_files_untouched(pg, config_dir):
    env = base_env(pg, "app", "pw", "app", free_port())
    assert entrypoint(["render", "--config-dir", str(config_dir)], env).returncode == 0
    before = shown(config_dir)
    entries = sorted(os.listdir(config_dir))
    env["DB_PASSWORD"] = "new\npassword"
    r = entrypoint(["render", "--config-dir", str(config_dir)], env)
    assert r.returncode == 78
    assert "DB_PASSWORD: the password must not contain a line break" in r.stderr
    assert "new" not in r.stderr
    assert shown(config_dir) == before
    assert sorted(os.listdir(config_dir)) == entries


def test_supplying_one_of_the_pair_later_leaves_no_old_generation(pg, config_dir):
    """The pair is written through .pgbe-current; once you supply your own
    userlist.txt, only pgbouncer.ini is written, and the generation
    directories (with the old userlist, a password at rest) are removed."""
    env = base_env(pg, "app", "pw-generated", "app", free_port())
    assert entrypoint(["render", "--config-dir", str(config_dir)], env).returncode == 0
    assert (config_dir / ".pgbe-current").is_symlink()
    (config_dir / "userlist.txt").unlink()
    (config_dir / "userlist.txt").write_text('"app" "pw-own"\n')
    if os.geteuid() == 0:
        os.chown(config_dir / "userlist.txt", *run_user_ids())
    env["DB_PASSWORD"] = "pw-own"
    r = entrypoint(["render", "--config-dir", str(config_dir)], env)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(config_dir)) == ["pgbouncer.ini", "userlist.txt"]
    assert not (config_dir / "pgbouncer.ini").is_symlink()
    assert (config_dir / "userlist.txt").read_text() == '"app" "pw-own"\n'


def test_target_that_is_a_directory_gives_73(pg, config_dir):
    (config_dir / "pgbouncer.ini").mkdir()
    r = entrypoint(["render", "--config-dir", str(config_dir)],
                   base_env(pg, "app", "pw", "app", free_port()))
    assert r.returncode == 73
    assert "is a directory" in r.stderr
    assert sorted(os.listdir(config_dir)) == ["pgbouncer.ini"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as another user")
def test_unwritable_directory_gives_73(pg, workdir):
    d = workdir / "root-owned"
    d.mkdir(mode=0o755, exist_ok=True)
    env = base_env(pg, "app", "pw", "app", free_port())
    full = process_env(env)
    p = subprocess.run(as_run_user([str(BIN), "render", "--config-dir", str(d)]), env=full,
                       capture_output=True, text=True)
    assert p.returncode == 73, p.stderr
    assert "not writable" in p.stderr
    assert list(d.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
@pytest.mark.parametrize("kind", ["read-only", "full"])
def test_read_only_or_full_filesystem_gives_73(pg, workdir, kind):
    d = workdir / f"mnt-{kind}"
    d.mkdir(exist_ok=True)
    opts = "ro,size=64k" if kind == "read-only" else "size=4k"
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(d)], check=True)
    try:
        if kind == "full":
            with open(d / "filler", "wb") as f:
                try:
                    f.write(b"x" * 65536)
                except OSError:
                    pass
        before = sorted(p.name for p in d.iterdir())
        r = entrypoint(["render", "--config-dir", str(d)],
                       base_env(pg, "app", "pw", "app", free_port()))
        assert r.returncode == 73, r.stderr
        assert ("read-only" if kind == "read-only" else "disk is full") in r.stderr
        assert sorted(p.name for p in d.iterdir()) == before
    finally:
        subprocess.run(["umount", str(d)])


def test_template_is_expanded_with_each_files_quoting(pg, config_dir, bouncers):
    password = "it's \"tmpl\""
    user = db = new_user(pg, password)
    port = free_port()
    (config_dir / "pgbouncer.ini.template").write_text(
        "[databases]\n"
        "${DB_NAME} = host=${DB_HOST} port=${DB_PORT} dbname=${DB_NAME}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\nlisten_port = ${LISTEN_PORT}\nunix_socket_dir =\n"
        "auth_type = ${AUTH_TYPE:-scram-sha-256}\n"
        f"auth_file = {config_dir}/userlist.txt\n")
    (config_dir / "userlist.txt.template").write_text('"${DB_USER}" "${DB_PASSWORD}"\n')
    env = base_env(pg, user, password, db, port)
    r = entrypoint(["render", "--config-dir", str(config_dir)], env)
    assert r.returncode == 0, r.stderr
    assert (config_dir / "userlist.txt").read_text() == f'"{user}" "it\'s ""tmpl"""\n'
    bouncers(config_dir, port)
    assert psql(port, user, password, db, "select 1").stdout.strip() == "1"
    del env["DB_HOST"]
    r = entrypoint(["render", "--config-dir", str(config_dir)], env)
    assert r.returncode == 78 and "DB_HOST is not set and has no default" in r.stderr


def test_supplied_ini_is_honoured_and_never_overwritten(pg, config_dir, bouncers):
    user = db = new_user(pg, "pw-own")
    port = free_port()
    own = (f"[databases]\n{db} = host=127.0.0.1 port={pg.port}\n[pgbouncer]\n"
           f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
           f"auth_type = scram-sha-256\nauth_file = {config_dir}/userlist.txt\n")
    ini = config_dir / "pgbouncer.ini"
    ini.write_text(own)
    os.chmod(ini, 0o644)
    env = {"DB_USER": user, "DB_PASSWORD": "pw-own", "DB_HOST": "127.0.0.1",
           "DB_PORT": str(pg.port), "DB_NAME": db, "PGBOUNCER_RUN_USER": run_user_spec()}
    r = entrypoint(["render", "--config-dir", str(config_dir)], env)
    assert r.returncode == 0, r.stderr
    assert ini.read_text() == own
    bouncers(config_dir, port)
    assert psql(port, user, "pw-own", db, "select 1").stdout.strip() == "1"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to pick the run user")
def test_supplied_ini_unreadable_by_run_user_names_uid_and_mode(config_dir):
    ini = config_dir / "pgbouncer.ini"
    ini.write_text("[pgbouncer]\n")
    os.chown(ini, 0, 0)
    os.chmod(ini, 0o600)
    r = entrypoint(["render", "--config-dir", str(config_dir), "--user", run_user_spec()], {})
    assert r.returncode == 78, r.stderr
    uid, _ = run_user_ids()
    assert f"not readable by uid {uid}" in r.stderr and "mode 0600" in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to pick the run user")
def test_directory_the_run_user_cannot_enter_is_named(pg, workdir):
    d = workdir / "locked"
    d.mkdir(mode=0o700, exist_ok=True)
    os.chmod(d, 0o700)
    r = entrypoint(["render", "--config-dir", str(d), "--user", run_user_spec()],
                   base_env(pg, "app", "pw", "app", free_port()))
    uid, gid = run_user_ids()
    assert r.returncode == 0
    assert f"cannot be entered by uid {uid} gid {gid}" in r.stderr and "mode 0700" in r.stderr


ODD_USERS = ['us"er', "o'neil", "back\\slash", "ünïcode", "semi;colon#hash=eq", "$dollar",
             "%pct", "Mixed.Case-1", "*star"]


def test_show_pools_works_for_every_user_name_the_userlist_accepts(pg, config_dir, bouncers):
    """admin_users has no quoting; every name without a comma or white space
    is written there as it is, and pgbouncer lets that user run SHOW POOLS."""
    counter[0] += 1
    users = [f"{u}{counter[0]}" for u in ODD_USERS]
    urls = []
    for i, user in enumerate(users):
        db = f"odd{counter[0]}_{i}"
        pg.add_user(user, f"pw-{i}", db)
        urls.append(f"postgresql://{urllib.parse.quote(user, safe='')}:pw-{i}"
                    f"@127.0.0.1:{pg.port}/{db}")
    port = free_port()
    env = {"DATABASE_URLS": " ".join(urls), "LISTEN_ADDR": "127.0.0.1",
           "LISTEN_PORT": str(port), "UNIX_SOCKET_DIR": "", "PGBOUNCER_RUN_USER": run_user_spec()}
    r = entrypoint(["render", "--config-dir", str(config_dir)], env)
    assert r.returncode == 0, r.stderr
    assert "admin_users" not in r.stderr  # nothing left out
    bouncers(config_dir, port)
    for i, user in enumerate(users):
        q = psql(port, user, f"pw-{i}", "pgbouncer", "SHOW POOLS")
        assert q.returncode == 0, (user, q.stderr)


def test_user_name_with_comma_is_left_out_of_admin_users_with_a_warning(pg, config_dir):
    db = new_user(pg, "pw")
    env = base_env(pg, "a,b", "pw", db, free_port())
    r = entrypoint(["render", "--config-dir", str(config_dir)], env)
    assert r.returncode == 0, r.stderr
    assert 'DB_USER "a,b" is not added to admin_users' in r.stderr
    assert "admin_users" not in (config_dir / "pgbouncer.ini").read_text()
