"""`show WHAT` and `console -c`: the seed checked its pool with
`docker exec <c> psql -U $DB_USER -h 127.0.0.1 -p 6432 pgbouncer`, which a
FROM scratch image cannot run (no psql).  The binary answers instead, over
the admin console's Unix socket as the run user."""
import json

from utils import entrypoint
from utils import Pool


def show(pool, *args):
    return entrypoint(list(args) + ["--config-dir", str(pool.config_dir)], pool.env, timeout=20)


def test_show_pools_prints_an_aligned_table_with_the_pool(pg, config_dir, secret_dir, running):
    pool = Pool(pg, config_dir, secret_dir, running)
    assert pool.query(pool.password).stdout.strip() == "1"
    r = show(pool, "show", "pools")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = [c.strip() for c in lines[0].split("|")]
    assert header[:2] == ["database", "user"], lines[0]
    assert set(lines[1]) <= set("-+"), lines[1]
    rows = [[c.strip() for c in l.split("|")] for l in lines[2:-1]]
    assert [pool.user, pool.user] in [row[:2] for row in rows], r.stdout
    assert lines[-1] == f"({len(rows)} row{'s' if len(rows) != 1 else ''})"
    # every row as wide as the header: aligned
    assert len({len(l) for l in lines[:-1]}) == 1, r.stdout


def test_show_json_gives_numbers_as_numbers(pg, config_dir, secret_dir, running):
    pool = Pool(pg, config_dir, secret_dir, running)
    assert pool.query(pool.password).stdout.strip() == "1"
    r = show(pool, "show", "stats", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    mine = [row for row in rows if row["database"] == pool.user]
    assert mine and isinstance(mine[0]["total_query_count"], int), r.stdout
    assert mine[0]["total_query_count"] >= 1


def test_console_runs_any_admin_command(pg, config_dir, secret_dir, running):
    pool = Pool(pg, config_dir, secret_dir, running)
    r = show(pool, "console", "-c", "SHOW VERSION")
    assert r.returncode == 0 and "PgBouncer" in r.stdout, r.stderr
    r = show(pool, "console", "-c", "RELOAD")
    assert r.returncode == 0 and r.stdout.strip() == "RELOAD", r.stdout + r.stderr
    r = show(pool, "console", "-c", "SHOW NOTHING_SUCH")
    assert r.returncode == 64 and "SHOW NOTHING_SUCH" in r.stderr, r.stderr


def test_show_refuses_an_unknown_subject_and_names_the_known_ones(config_dir):
    r = entrypoint(["show", "pool; RELOAD", "--config-dir", str(config_dir)], {})
    assert r.returncode == 64 and "pools clients servers" in r.stderr, r.stderr
    r = entrypoint(["show", "--config-dir", str(config_dir)], {})
    assert r.returncode == 64
    r = entrypoint(["console", "--config-dir", str(config_dir)], {})
    assert r.returncode == 64 and "-c" in r.stderr


def test_show_without_pgbouncer_says_how_to_reach_it(config_dir):
    (config_dir / "pgbouncer.ini").write_text(
        f"[pgbouncer]\nlisten_port = 1\nunix_socket_dir = {config_dir}\n")
    r = entrypoint(["show", "pools", "--config-dir", str(config_dir)], {})
    assert r.returncode == 69 and "admin console" in r.stderr, r.stderr
