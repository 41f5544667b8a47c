"""Chart tier: charts/pgbouncer-entrypoint checked offline, with the pinned
helm, helm-unittest and our strict client-go decoder (build/tools, made by
scripts/install-tools.sh): lint, render every documented values file, decode
each rendered object strictly (a field the API does not have fails), the
chart's own unit tests, the schema's and templates' refusals, and the
chart's Kubernetes example saying what compose-examples/k8s says.  The
rendered pods run in the images in the Docker tier (test_docker.py)."""
import json
import pathlib
import subprocess

import pytest
import yaml

from utils import BIN, ROOT

CHART = ROOT / "charts/pgbouncer-entrypoint"
TOOLS = ROOT / "build/tools"
VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
# what each documented values file renders, kind by kind
KINDS = {
    "run-values.yaml": ["Deployment", "PodDisruptionBudget", "Service"],
    "init-values.yaml": ["Deployment", "PodDisruptionBudget", "Service"],
    "example-values.yaml": ["Deployment", "PodDisruptionBudget", "Service"],
    "minimal-values.yaml": ["Deployment", "Service"],
    "production-values.yaml": ["Deployment", "NetworkPolicy", "PodDisruptionBudget",
                               "PodMonitor", "Service", "ServiceMonitor"],
}


def tool(name, *args, check=True, **kw):
    path = TOOLS / name
    # missing tools fail the tier: make test builds them (scripts/install-tools.sh)
    assert path.exists(), f"{path} missing: scripts/install-tools.sh {name}"
    p = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True,
                       timeout=120, **kw)
    if check and p.returncode:
        raise AssertionError(f"{name} {' '.join(map(str, args))}: exit {p.returncode}\n"
                             f"{p.stdout}\n{p.stderr}")
    return p


def render(*args, check=True):
    return tool("helm", "template", "pool", CHART, "--namespace", "db", *args, check=check)


def objects(text):
    return [d for d in yaml.safe_load_all(text) if d]


def test_every_documented_values_file_is_listed():
    assert sorted(v.name for v in VALUES) == sorted(KINDS)


@pytest.mark.parametrize("values", [None] + VALUES, ids=lambda v: v.name if v else "defaults")
def test_helm_lint_strict(values):
    args = ["--values", values] if values else []
    r = tool("helm", "lint", "--strict", CHART, *args)
    assert "1 chart(s) linted, 0 chart(s) failed" in r.stdout, r.stdout


@pytest.mark.parametrize("values", VALUES, ids=lambda v: v.name)
def test_each_rendered_object_decodes_strictly(values, tmp_path):
    out = tmp_path / "rendered.yaml"
    out.write_text(render("--values", values, "--kube-version", "1.31.0").stdout)
    r = tool("k8s-decode", out)
    kinds = sorted(line.split()[0] for line in r.stdout.splitlines())
    assert kinds == KINDS[values.name], r.stdout


def test_strict_decoding_catches_a_misspelt_field(tmp_path):
    """The decoder is not a formality: one misspelt key in the Deployment and
    one value at the wrong level in the Service both fail, naming the field."""
    docs = objects(render().stdout)
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    c["readinessProbee"] = c.pop("readinessProbe")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(deploy))
    r = tool("k8s-decode", bad, check=False)
    assert r.returncode == 1 and 'unknown field "spec.template.spec.containers[0].readinessProbee"' \
        in r.stderr, r.stderr
    svc = next(d for d in docs if d["kind"] == "Service")
    svc["spec"]["ports"][0]["targetport"] = 1
    bad.write_text(yaml.safe_dump(svc))
    r = tool("k8s-decode", bad, check=False)
    assert r.returncode == 1 and "targetport" in r.stderr, r.stderr


def test_helm_unittest_suites_pass():
    r = tool("helm-unittest", "--color=false", CHART, check=False)
    summary = [l for l in r.stdout.splitlines() if l.startswith("Tests:")]
    assert r.returncode == 0, r.stdout + r.stderr
    # the suites ran and none was skipped
    assert summary and " failed" not in summary[0] and "skipped" not in summary[0], summary
    assert int(summary[0].split()[1]) >= 30, summary


def test_values_schema_refuses_an_unknown_value_with_its_name():
    r = render("--set", "replicaCout=3", check=False)
    assert r.returncode == 1 and "replicaCout" in r.stderr, r.stderr


def test_a_password_in_values_is_refused_naming_the_fix():
    r = render("--set", "config.DB_PASSWORD=hunter2", check=False)
    assert r.returncode == 1, r.stdout
    assert "config.DB_PASSWORD: a secret in values" in r.stderr, r.stderr
    assert "database.existingSecret" in r.stderr
    assert "hunter2" not in r.stdout + r.stderr


def pod(docs):
    return next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]


def containers(spec):
    return spec.get("initContainers", []) + spec["containers"]


def test_chart_and_kubernetes_example_say_the_same():
    """The chart rendered with ci/example-values.yaml and
    compose-examples/k8s/pgbouncer.yaml: the same containers in the same
    order with the same images, commands, environment, mounts, probes,
    preStop and security, the same volumes and grace period."""
    chart = pod(objects(render("--values", CHART / "ci/example-values.yaml",
                               "--kube-version", "1.31.0").stdout))
    example = pod(objects((ROOT / "compose-examples/k8s/pgbouncer.yaml").read_text()))
    # the example pins the version in the tag the chart takes from appVersion
    for spec in (chart, example):
        for c in containers(spec):
            c["image"] = c["image"].replace("${PGBE_IMAGE}", "REPO")
    same = ("name", "image", "command", "args", "restartPolicy", "livenessProbe", "resources",
            "readinessProbe", "lifecycle", "securityContext")
    for a, b in zip(containers(chart), containers(example), strict=True):
        for key in same:
            assert a.get(key) == b.get(key), (a["name"], key, a.get(key), b.get(key))
        assert sorted(map(json.dumps, a.get("env", []))) == \
            sorted(map(json.dumps, b.get("env", []))), a["name"]
        ports = lambda c: [(p["name"], p["containerPort"]) for p in c.get("ports", [])]
        assert ports(a) == ports(b), a["name"]
        mounts = lambda c: {m["mountPath"] for m in c.get("volumeMounts", [])}
        # the chart's metrics sidecar reads no config file (its settings come
        # from the environment): a subset of the example's mounts
        assert mounts(a) <= mounts(b), (a["name"], mounts(a), mounts(b))
    for key in ("securityContext", "terminationGracePeriodSeconds"):
        assert chart[key] == example[key], key
    assert chart["volumes"] == [
        dict(v, secret=dict(v["secret"], items=[{"key": "password", "path": "password"}]))
        if "secret" in v else v for v in example["volumes"]]


@pytest.mark.parametrize("values", VALUES, ids=lambda v: v.name)
def test_rendered_commands_are_the_binarys_commands(values):
    """Every container running our image runs a command the binary has, with
    options it accepts: `check` parses the same arguments (--config-dir,
    --wait-timeout) and environment without a server."""
    spec = pod(objects(render("--values", values, "--kube-version", "1.31.0").stdout))
    commands = set()
    for c in containers(spec):
        argv = c.get("command", []) + c.get("args", [])
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if "exec" in c.get(probe, {}):
                commands.add(tuple(c[probe]["exec"]["command"][1:]))
        if "preStop" in c.get("lifecycle", {}):
            commands.add(tuple(c["lifecycle"]["preStop"]["exec"]["command"][1:]))
        if c.get("command"):
            continue  # pgbouncer itself
        commands.add(tuple(argv))
    for argv in sorted(commands):
        r = subprocess.run([str(BIN), argv[0], "--help"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, (argv, r.stderr)
        for opt in (a for a in argv[1:] if a.startswith("--")):
            assert opt in r.stdout, (argv, opt, r.stdout)
