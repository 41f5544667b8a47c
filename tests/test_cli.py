"""Command line, help and the settings table against README."""
import pathlib
import re
import shutil
import subprocess
import sys

from utils import BIN, ROOT, entrypoint


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
                 "64 usage", "69", "73", "77", "78", "126/127", "128+N", "1 health",
                 "max_client_conn"]:
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
    readme = (ROOT / "docs/configuration.md").read_text()
    m = re.search(r"<!-- settings:begin -->\n(.*?)<!-- settings:end -->", readme, re.S)
    assert m, "docs/configuration.md has no settings section"
    table = entrypoint(["settings-doc"], {}).stdout
    assert m.group(1) == table, "README settings table is stale: run `make readme-settings`"


def test_dockerfile_is_builder_stage_plus_the_shared_final_stages():
    parts = (ROOT / "docker/builder.Dockerfile").read_text() + \
        (ROOT / "docker/final.Dockerfile").read_text()
    assert (ROOT / "docker/Dockerfile").read_text() == parts, "run `make dockerfile`"


def test_kubernetes_manifest_uses_init_container_read_only_root_and_health_probes():
    import yaml
    docs = list(yaml.safe_load_all((ROOT / "compose-examples/k8s/pgbouncer.yaml").read_text()))
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    assert any(d["kind"] == "Service" for d in docs)
    spec = deploy["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert any("emptyDir" in v for v in spec["volumes"])
    init = spec["initContainers"][0]
    assert init["image"].endswith("-init") and init["args"][0] == "init"
    main = spec["containers"][0]
    for c in (init, main):
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert main["livenessProbe"]["exec"]["command"] == ["/pgbouncer-entrypoint", "health"]
    assert main["readinessProbe"]["exec"]["command"][:2] == ["/pgbouncer-entrypoint", "health"]


def test_compose_examples_keep_the_seed_shape():
    import yaml
    staging = yaml.safe_load((ROOT / "compose-examples/docker-compose.staging.yml").read_text())
    prod = yaml.safe_load((ROOT / "compose-examples/docker-compose.prod.yml").read_text())
    pool = staging["services"]["pgbouncer-test"]
    assert pool["expose"] == ["6432"] and "ports" not in pool
    # staging takes the seed's .env.test as it is (DB_PASSWORD too); prod
    # reads the password from a Docker secret
    assert pool["environment"]["DB_PASSWORD"].startswith("${DB_PASSWORD")
    assert prod["services"]["pgbouncer-prod"]["environment"]["DB_PASSWORD_FILE"].startswith(
        "/run/secrets/")
    assert "env_file" not in pool  # the seed passed every secret of .env.test
    assert staging["services"]["web-test"]["depends_on"]["pgbouncer-test"]["condition"] == \
        "service_healthy"
    assert prod["services"]["pgbouncer-prod"]["ports"][0].endswith("6433}:6432")
    for name in ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"):
        assert name in (ROOT / "compose-examples/.env.example").read_text()


def test_config_dir_with_a_line_break_or_leading_space_is_refused(tmp_path):
    """auth_file names the directory in pgbouncer.ini, which has no quoting:
    a line break would add lines (here an %include) to the file."""
    env = {"DB_HOST": "db", "DB_USER": "u", "DB_PASSWORD": "p"}
    d = str(tmp_path / "conf")
    for bad in [d + "\n%include /etc/shadow", " " + d]:
        r = entrypoint(["render", "--config-dir", bad], env)
        assert r.returncode == 64, r.stderr  # an option: a usage error
        assert "--config-dir must not" in r.stderr
        assert "\n%include" not in r.stderr  # echoed escaped, never as a line
        r = entrypoint(["render"], dict(env, PGBOUNCER_CONFIG_DIR=bad))
        assert r.returncode == 78, r.stderr
        assert "PGBOUNCER_CONFIG_DIR must not" in r.stderr
    assert not any(tmp_path.iterdir())


def test_readme_lays_out_every_module():
    """README's "How the code is laid out" has a line for every source file,
    so a newcomer finds where a rule lives."""
    text = (ROOT / "docs/building.md").read_text()
    section = text.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)?", section, re.M))
    named = {m for row in rows for m in row if m}
    modules = {p.stem for p in (ROOT / "src").glob("*/*.c")}
    assert modules - named == set(), "not in README's module table"


def test_layers_have_no_upward_include_and_no_cycle(tmp_path):
    """src/'s folders are layers (docs/building.md): the check passes on the
    tree, and fails, naming the line, on an upward include and on a cycle."""
    ok = subprocess.run([sys.executable, str(ROOT / "scripts/check-layers.py")],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout
    assert "0 problems" in ok.stdout
    shutil.copytree(ROOT / "src", tmp_path / "src")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts/check-layers.py", tmp_path / "scripts")
    buf = tmp_path / "src/base/buf.h"
    buf.write_text(buf.read_text() + '#include "cmd/cli.h"\n')
    log = tmp_path / "src/base/log.h"
    log.write_text(log.read_text() + '#include "base/deadline.h"\n')
    deadline = tmp_path / "src/base/deadline.h"
    deadline.write_text(deadline.read_text() + '#include "base/log.h"\n')
    bad = subprocess.run([sys.executable, str(tmp_path / "scripts/check-layers.py")],
                         capture_output=True, text=True)
    assert bad.returncode == 1
    assert "src/base/buf.h" in bad.stdout and "includes cmd/cli.h, a layer above" in bad.stdout
    assert "cycle: " in bad.stdout and "base/deadline" in bad.stdout and "base/log" in bad.stdout
