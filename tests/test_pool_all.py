"""PGBOUNCER_POOL_ALL=1: pgbouncer's "*" entry, every database of the server
under its own name (edoburu pools "*" when DB_NAME is unset; users moving
from it keep that by saying so)."""
from utils import base_env, entrypoint, free_port, psql

counter = [0]


def test_pool_all_serves_every_database_through_one_entry(pg, config_dir, bouncers):
    counter[0] += 1
    user = f"all{counter[0]}"
    pg.add_user(user, "pw-all", user)
    for db in (f"{user}_a", f"{user}_b"):
        pg.sql(f'CREATE DATABASE "{db}" OWNER "{user}"')
    port = free_port()
    env = base_env(pg, user, "pw-all", user, port, PGBOUNCER_POOL_ALL="1")
    del env["DB_NAME"]
    r = entrypoint(["init", "--config-dir", str(config_dir)], env)
    assert r.returncode == 0, r.stderr
    ini = (config_dir / "pgbouncer.ini").read_text()
    line = next(l for l in ini.splitlines() if l.startswith("* = "))
    assert "host=" in line and "dbname" not in line, line
    b = bouncers(config_dir, port)
    for db in (user, f"{user}_a", f"{user}_b"):
        q = psql(port, user, "pw-all", db, "select current_database()")
        assert q.stdout.strip() == db, q.stderr + b.log.read_text()
    # the URL for applications names the database the wait logged in to
    url = entrypoint(["client-url", "--host", "pool"], env).stdout.strip()
    assert url.endswith(f"@pool:{port}/{user}"), url


def test_pool_all_takes_one_server_only(pg, config_dir):
    env = base_env(pg, "u", "pw", "u", free_port(), PGBOUNCER_POOL_ALL="1",
                   PGBOUNCER_DATABASE="other")
    r = entrypoint(["check", "--config-dir", str(config_dir)], env)
    assert r.returncode == 78 and "PGBOUNCER_POOL_ALL" in r.stderr, r.stderr
    env = base_env(pg, "u", "pw", "u", free_port(), PGBOUNCER_POOL_ALL="maybe")
    r = entrypoint(["check", "--config-dir", str(config_dir)], env)
    assert r.returncode == 78 and "must be a boolean" in r.stderr, r.stderr
