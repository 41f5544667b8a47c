"""Command line, help and the settings table against README."""
import pathlib
import re
import subprocess

from conftest import BIN, ROOT, entrypoint


def test_binary_is_static_and_stripped():
    out = subprocess.run(["file", str(BIN)], capture_output=True, text=True).stdout
    assert "statically linked" in out and "stripped" in out


def test_version():
    r = entrypoint(["--version"], {})
    assert r.returncode == 0 and re.match(r"pgbouncer-entrypoint \d+\.\d+\.\d+", r.stdout)


def test_help_documents_commands_variables_and_exit_codes():
    r = entrypoint(["--help"], {})
    assert r.returncode == 0
    for word in ["render", "check", "init", "wait", "health", "client-url", "DATABASE_URL",
                 "DB_PASSWORD", "_FILE", "--config-dir", "--user", "--wait-timeout",
                 "64 usage", "69", "73", "77", "78", "126/127", "max_client_conn"]:
        assert word in r.stdout, word


def test_unknown_command_and_option_are_usage_errors():
    assert entrypoint(["bogus"], {}).returncode == 64
    r = entrypoint(["render", "--bogus"], {})
    assert r.returncode == 64 and 'unknown option "--bogus"' in r.stderr


def test_unknown_pgbouncer_variable_suggests_the_right_one():
    r = entrypoint(["check"], {"PGBOUNCER_DEFAULT_POOL_SIZ": "5", "DB_HOST": "db",
                               "DB_USER": "u", "DB_PASSWORD": "p"})
    assert r.returncode == 78
    assert "did you mean PGBOUNCER_DEFAULT_POOL_SIZE?" in r.stderr


def test_readme_settings_table_matches_the_binary():
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- settings:begin -->\n(.*?)<!-- settings:end -->", readme, re.S)
    assert m, "README.md has no settings section"
    table = entrypoint(["settings-doc"], {}).stdout
    assert m.group(1) == table, "README settings table is stale: run `make readme-settings`"
