"""Usage errors and the model's messages as a new user meets them: every
refusal says what was wrong and names what the user set."""
import pytest

from utils import entrypoint

UPSTREAM = {"DB_HOST": "db", "DB_USER": "app", "DB_PASSWORD": "pw"}


@pytest.mark.parametrize("args,option", [
    (["render", "--config-dir="], "--config-dir"),
    (["render", "--wait-timeout="], "--wait-timeout"),
    (["render", "--user="], "--user"),
    (["render", "--user"], "--user"),
    (["render", "--config-dir"], "--config-dir"),
])
def test_empty_or_missing_option_value_is_a_usage_error_that_says_so(args, option):
    r = entrypoint(args, UPSTREAM)
    assert r.returncode == 64
    assert f"option {option} needs a value" in r.stderr


def test_over_long_user_name_is_a_usage_error_that_says_so(tmp_path):
    r = entrypoint(["render", "--config-dir", str(tmp_path), "--user", "x" * 300], UPSTREAM)
    assert r.returncode == 64
    assert "--user: the user name is too long" in r.stderr


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_work_whatever_the_environment_holds(flag):
    r = entrypoint([flag], {"PGBOUNCER_WAIT_TIMEOUT": "soon", "DB_PORT": "x"})
    assert r.returncode == 0, r.stderr
    assert r.stdout


def test_garbage_wait_timeout_is_still_refused_by_the_commands_that_wait(tmp_path):
    r = entrypoint(["wait"], dict(UPSTREAM, PGBOUNCER_WAIT_TIMEOUT="soon"))
    assert r.returncode == 64
    assert 'PGBOUNCER_WAIT_TIMEOUT must be a number of seconds (0-86400), got "soon"' in r.stderr


def test_help_documents_exit_code_71():
    r = entrypoint(["--help"], {})
    assert "71 operating-system error" in r.stdout


def test_help_lists_bitnami_names_from_the_settings_table():
    r = entrypoint(["--help"], {})
    assert "listen_port" in r.stdout and "PGBOUNCER_PORT" in r.stdout
