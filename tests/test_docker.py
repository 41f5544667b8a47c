"""Docker tier: the FROM scratch images on the real Docker engine, with a
PostgreSQL test image built here from Debian's packages (nothing is pulled).
Skipped, loudly, when `docker info` fails."""
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from utils import ROOT, free_port, make_tls_files

VERSION = [l.split('"')[1] for l in (ROOT / "src/base/version.h").read_text().splitlines()
           if "PGBE_VERSION" in l and '"' in l][0]
PASSWORD = "p@ss:w/rd?#% 'x\"y\\z"
TAG = uuid.uuid4().hex[:8]


def sh(*args, check=True, timeout=600, **kw):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode:
        raise AssertionError(f"{' '.join(args)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def docker(*args, **kw):
    return sh("docker", *args, **kw)


def docker_available():
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


if not docker_available():
    print("\n*** DOCKER TIER SKIPPED: `docker info` failed; no image was tested ***\n")
    pytest.skip("DOCKER TIER SKIPPED: docker info failed", allow_module_level=True)


@pytest.fixture(scope="module")
def images():
    sh(str(ROOT / "scripts/build-images.sh"), VERSION)
    sh(str(ROOT / "scripts/debian-rootfs.sh"), "pgbe-debian:bookworm", timeout=1200)
    d = ROOT / "tests/docker"
    docker("build", "-q", "-f", str(d / "postgres.Dockerfile"), "-t", "pgbe-test-postgres:15",
           str(d), timeout=1200)
    docker("build", "-q", "-f", str(d / "debian-pgbouncer.Dockerfile"), "-t",
           "pgbe-test-debian-pgbouncer", str(d), timeout=1200)
    return True


def test_image_native_makes_the_same_native_image_without_arm64(images):
    """make image-native: the host's platform alone (no arm64 cross-build),
    and the very image make image loaded for it (the same config digest)."""
    ids = {t: docker("image", "inspect", "-f", "{{.Id}}", f"pgbouncer-entrypoint:{t}").stdout
           for t in ("latest", "init")}
    sh("make", "--no-print-directory", "image-native", cwd=ROOT, timeout=900)
    arch = sh("dpkg", "--print-architecture").stdout.strip()
    for name in ("pgbouncer", "init"):
        index = json.loads((ROOT / "build/oci-native" / name / "index.json").read_text())
        assert [m["platform"] for m in index["manifests"]] == [
            {"architecture": arch, "os": "linux"}], index
    for t, before in ids.items():
        assert docker("image", "inspect", "-f", "{{.Id}}",
                      f"pgbouncer-entrypoint:{t}").stdout == before, t


@pytest.fixture(scope="module")
def net(images):
    name = f"pgbe-{TAG}"
    docker("network", "create", name)
    yield name
    for cid in docker("ps", "-aq", "--filter", f"label=pgbe-test={TAG}").stdout.split():
        docker("rm", "-f", "-v", cid, check=False)
    docker("network", "rm", name, check=False)


def run_container(net, image, *args, name=None, env=None, opts=()):
    cmd = ["run", "-d", "--network", net, "--label", f"pgbe-test={TAG}"]
    if name:
        cmd += ["--name", f"{name}-{TAG}", "--network-alias", name]
    for k, v in (env or {}).items():
        cmd += ["-e", f"{k}={v}"]
    cmd += list(opts) + [image] + list(args)
    return docker(*cmd).stdout.strip()


@pytest.fixture(scope="module")
def db(net):
    cid = run_container(net, "pgbe-test-postgres:15", name="db",
                        env={"APP_USER": "app", "APP_PASSWORD": PASSWORD, "APP_DB": "app"})
    deadline = time.monotonic() + 120
    while docker("inspect", "-f", "{{.State.Health.Status}}", cid).stdout.strip() != "healthy":
        assert time.monotonic() < deadline, docker("logs", cid).stderr
        time.sleep(0.5)
    return "db"


def pool_env(**extra):
    env = {"DB_HOST": "db", "DB_NAME": "app", "DB_USER": "app", "DB_PASSWORD": PASSWORD,
           "SERVER_TLS_SSLMODE": "disable"}
    env.update(extra)
    return env


def client_query(net, host, sql="select current_user || '@' || current_database()", tries=60):
    url = (f"postgresql://app:{urllib.parse.quote(PASSWORD, safe='')}@{host}:6432/app")
    last = None
    for _ in range(tries):
        last = docker("run", "--rm", "--network", net, "--label", f"pgbe-test={TAG}",
                      "--entrypoint", "psql", "pgbe-test-postgres:15", url, "-Atc", sql,
                      check=False)
        if last.returncode == 0:
            return last.stdout.strip()
        time.sleep(1)
    raise AssertionError(f"no answer through {host}: {last.stderr}")


def container_pid(cid):
    return int(docker("inspect", "-f", "{{.State.Pid}}", cid).stdout)


def process_ids(pid):
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    fields = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
    return fields["Name"].strip(), int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0])


def test_image_sizes_within_targets(images):
    sizes = {t: int(docker("image", "inspect", "-f", "{{.Size}}", f"pgbouncer-entrypoint:{t}").stdout)
             for t in ("latest", "init", VERSION, f"{VERSION}-init")}
    print(f"\nimage sizes: pgbouncer-entrypoint:latest {sizes['latest'] / 1e6:.2f} MB, "
          f":init {sizes['init'] / 1e6:.2f} MB")
    assert sizes["latest"] <= 10_000_000 and sizes["init"] <= 5_000_000


def test_images_have_no_shell_and_run_as_non_root(images):
    for tag in ("latest", "init"):
        cfg = json.loads(docker("image", "inspect", "-f", "{{json .Config}}",
                                f"pgbouncer-entrypoint:{tag}").stdout)
        assert cfg["User"] == "70:70" and cfg["Entrypoint"] == ["/pgbouncer-entrypoint"]
        cid = docker("create", f"pgbouncer-entrypoint:{tag}").stdout.strip()
        files = sh("sh", "-c", f"docker export {cid} | tar t").stdout.split()
        docker("rm", cid)
        assert "pgbouncer-entrypoint" in files
        assert not [f for f in files if f.endswith(("bin/sh", "bin/bash", "bin/busybox"))]
    latest = json.loads(docker("image", "inspect", "-f", "{{json .Config}}",
                               "pgbouncer-entrypoint:latest").stdout)
    assert latest["StopSignal"] == "SIGINT"
    assert latest["Healthcheck"]["Test"] == ["CMD", "/pgbouncer-entrypoint", "health"]
    assert latest["Labels"]["org.opencontainers.image.version"] == VERSION


def test_pool_serves_client_in_another_container_by_service_name(net, db):
    cid = run_container(net, "pgbouncer-entrypoint:latest", name="pool1", env=pool_env())
    assert client_query(net, "pool1") == "app@app", docker("logs", cid).stderr
    # and the image's own health check turns healthy
    deadline = time.monotonic() + 60
    while docker("inspect", "-f", "{{.State.Health.Status}}", cid).stdout.strip() != "healthy":
        assert time.monotonic() < deadline, "never healthy"
        time.sleep(1)


@pytest.mark.parametrize("opts", [["--user", "12345:0"],
                                  ["--user", "12345:0", "--read-only", "--tmpfs", "/tmp",
                                   "--tmpfs", "/etc/pgbouncer"]],
                         ids=["arbitrary-uid", "arbitrary-uid-read-only"])
def test_arbitrary_uid_and_read_only_root(net, db, opts):
    name = "pool-ro" if "--read-only" in opts else "pool-uid"
    cid = run_container(net, "pgbouncer-entrypoint:latest", name=name, env=pool_env(), opts=opts)
    assert client_query(net, name) == "app@app", docker("logs", cid).stderr
    comm, uid, gid = process_ids(container_pid(cid))
    assert (comm, uid, gid) == ("pgbouncer", 12345, 0)


def test_started_as_root_drops_privileges(net, db):
    cid = run_container(net, "pgbouncer-entrypoint:latest", name="pool-root", env=pool_env(),
                        opts=["--user", "0:0"])
    assert client_query(net, "pool-root") == "app@app", docker("logs", cid).stderr
    comm, uid, gid = process_ids(container_pid(cid))
    assert comm == "pgbouncer" and uid == 70 and gid == 70
    environ = pathlib.Path(f"/proc/{container_pid(cid)}/environ").read_bytes().decode()
    assert PASSWORD not in environ and "DB_PASSWORD" not in environ


@pytest.mark.parametrize("consumer", ["static", "debian"])
def test_init_image_renders_into_volume_for_a_stock_pgbouncer(net, db, consumer):
    vol = f"pgbe-cfg-{consumer}-{TAG}"
    try:
        init = docker("run", "--rm", "--network", net, "-v", f"{vol}:/etc/pgbouncer",
                      *sum((["-e", f"{k}={v}"] for k, v in pool_env().items()), []),
                      "pgbouncer-entrypoint:init")
        assert "accepts logins" in init.stderr
        if consumer == "static":
            image, opts = "pgbouncer-entrypoint:latest", ["--entrypoint", "/usr/bin/pgbouncer"]
        else:
            image, opts = "pgbe-test-debian-pgbouncer", []
        name = f"stock-{consumer}"
        cid = run_container(net, image, *(["/etc/pgbouncer/pgbouncer.ini"] if opts else []),
                            name=name, opts=["-v", f"{vol}:/etc/pgbouncer:ro"] + opts)
        assert client_query(net, name) == "app@app", docker("logs", cid).stderr
        version = docker("logs", cid).stderr
        assert ("PgBouncer 1.18" in version) == (consumer == "debian")
    finally:
        for cid in docker("ps", "-aq", "--filter", f"volume={vol}").stdout.split():
            docker("rm", "-f", cid, check=False)
        docker("volume", "rm", vol, check=False)


def test_docker_stop_ends_within_grace_period(net, db):
    cid = run_container(net, "pgbouncer-entrypoint:latest", name="pool-stop", env=pool_env())
    client_query(net, "pool-stop")
    url = f"postgresql://app:{urllib.parse.quote(PASSWORD, safe='')}@pool-stop:6432/app"
    # an idle client stays connected: psql reading an open stdin
    docker("run", "-d", "-i", "--network", net, "--label", f"pgbe-test={TAG}",
           "--entrypoint", "psql", "pgbe-test-postgres:15", url)
    time.sleep(1)
    t = time.monotonic()
    docker("stop", "-t", "20", cid)
    took = time.monotonic() - t
    state = json.loads(docker("inspect", "-f", "{{json .State}}", cid).stdout)
    print(f"\ndocker stop took {took:.2f} s, exit code {state['ExitCode']}")
    assert not state["OOMKilled"] and state["ExitCode"] != 137  # not SIGKILLed at the deadline


def test_processes_in_the_image_serve_report_and_stop_together(net, db):
    """PGBOUNCER_PROCESSES=2 in the scratch image: PID 1 is the entrypoint's
    supervisor (re-executed through /proc/self/exe, no secret in its
    environment), both pgbouncers serve and report, docker stop ends both."""
    cid = run_container(net, "pgbouncer-entrypoint:latest", name="pool-procs",
                        env=pool_env(PGBOUNCER_PROCESSES="2"))
    assert client_query(net, "pool-procs") == "app@app", docker("logs", cid).stderr
    pid1 = container_pid(cid)
    assert b"supervise" in pathlib.Path(f"/proc/{pid1}/cmdline").read_bytes()
    environ = pathlib.Path(f"/proc/{pid1}/environ").read_bytes().decode()
    assert PASSWORD not in environ and "DB_PASSWORD" not in environ
    kids = pathlib.Path(f"/proc/{pid1}/task/{pid1}/children").read_text().split()
    assert [process_ids(int(k))[0] for k in kids] == ["pgbouncer", "pgbouncer"]
    shown = docker("exec", cid, "/pgbouncer-entrypoint", "show", "pools", "--json")
    assert {r["process"] for r in json.loads(shown.stdout)} == {1, 2}, shown.stderr
    assert docker("exec", cid, "/pgbouncer-entrypoint", "health").returncode == 0
    docker("stop", "-t", "20", cid)
    state = json.loads(docker("inspect", "-f", "{{json .State}}", cid).stdout)
    assert state["ExitCode"] == 0, docker("logs", cid).stderr
    assert docker("logs", cid).stderr.count("got SIGINT") == 2


def test_wrong_credentials_never_start_pgbouncer(net, db):
    cid = run_container(net, "pgbouncer-entrypoint:latest", name="pool-bad",
                        env=pool_env(DB_PASSWORD="Not-The-Password"))
    code = int(docker("wait", cid, timeout=120).stdout.strip())
    logs = docker("logs", cid)
    out = logs.stdout + logs.stderr
    assert code == 77, out
    assert "password authentication failed" in out and "Not-The-Password" not in out
    assert "process up" not in out and "listening on" not in out  # pgbouncer never ran
    health = json.loads(docker("inspect", "-f", "{{json .State.Health}}", cid).stdout)
    assert health is None or health["Status"] != "healthy"


def test_db_host_naming_the_pool_itself_is_refused(net, db):
    """The seed's deploy script rewrote DB_HOST to the pooler's service name."""
    cid = run_container(net, "pgbouncer-entrypoint:latest", name="pool-self",
                        env=pool_env(DB_HOST="pool-self", DB_PORT="6432"))
    code = int(docker("wait", cid, timeout=120).stdout.strip())
    logs = docker("logs", cid)
    assert code == 78, logs.stderr
    assert "the pool would connect to itself" in logs.stderr


def rot_query(net, host, password):
    url = f"postgresql://rot:{password}@{host}:6432/rot"
    return docker("run", "--rm", "--network", net, "--label", f"pgbe-test={TAG}", "--entrypoint",
                  "psql", "pgbe-test-postgres:15", url, "-Atc", "select 1", check=False)


def until_login(net, host, password, timeout=60):
    """Seconds until a login with PASSWORD through HOST works (a client
    container per try, so this over-states the time by its start-up)."""
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if rot_query(net, host, password).stdout.strip() == "1":
            return time.monotonic() - t
        time.sleep(0.2)
    raise AssertionError(f"no login with the new password through {host}")


def test_day_two_in_containers_watch_sidecar_exec_reload_and_drain(net, db):
    """The same commands as the Kubernetes manifest, on the Docker engine: a
    watch sidecar sharing the pool's config, socket and secret volumes;
    `docker exec ... reload`; `docker exec ... drain` ending the container
    with 0."""
    def sql(q):
        docker("exec", f"db-{TAG}", "psql", "-X", "-q", "-h", "/tmp", "-U", "postgres", "-c", q)
    sql("CREATE ROLE rot LOGIN PASSWORD 'rot-old'")
    sql("CREATE DATABASE rot OWNER rot")
    secrets = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-secret-"))
    os.chmod(secrets, 0o755)

    def put(pw):  # a new file renamed over the old one, as the kubelet does
        (secrets / "password.new").write_text(pw)
        os.chmod(secrets / "password.new", 0o644)
        os.replace(secrets / "password.new", secrets / "password")
    put("rot-old")
    env = {"DB_HOST": "db", "DB_NAME": "rot", "DB_USER": "rot", "SERVER_TLS_SSLMODE": "disable",
           "DB_PASSWORD_FILE": "/run/secrets/db/password"}
    try:
        pool = run_container(net, "pgbouncer-entrypoint:latest", name="pool-rot", env=env,
                             opts=["-v", f"{secrets}:/run/secrets/db:ro", "-v", "/etc/pgbouncer",
                                   "-v", "/tmp"])
        until_login(net, "pool-rot", "rot-old")
        watch = run_container(net, "pgbouncer-entrypoint:init", "watch", "--interval", "2",
                              name="watch-rot", env=env, opts=["--volumes-from", pool])
        time.sleep(1)
        sql("ALTER ROLE rot PASSWORD 'rot-new'")
        put("rot-new")
        took = until_login(net, "pool-rot", "rot-new")
        print(f"\nMEASURE docker watch sidecar: file change -> new login {took:.2f} s")
        assert rot_query(net, "pool-rot", "rot-old").returncode != 0
        docker("stop", "-t", "10", watch)
        assert docker("inspect", "-f", "{{.State.ExitCode}}", watch).stdout.strip() == "0"
        assert "reloaded" in docker("logs", watch).stderr
        sql("ALTER ROLE rot PASSWORD 'rot-3'")
        put("rot-3")
        r = docker("exec", pool, "/pgbouncer-entrypoint", "reload", check=False)
        assert r.returncode == 0, r.stderr
        assert rot_query(net, "pool-rot", "rot-3").stdout.strip() == "1"
        # the seed's check without psql (the image has none): the pool's row
        s = docker("exec", pool, "/pgbouncer-entrypoint", "show", "pools", check=False)
        assert s.returncode == 0, s.stderr
        assert any(l.split("|")[0].strip() == "rot" for l in s.stdout.splitlines()), s.stdout
        d = docker("exec", pool, "/pgbouncer-entrypoint", "drain", "--delay", "1", "--timeout",
                   "20", check=False)
        # pgbouncer is PID 1: when it exits the container ends, and the drain
        # may be killed with it (docker exec says 137) before it can say so.
        # Either way the drain began, and the container ends with 0 below.
        assert d.returncode in (0, 137), d.stderr
        assert "drain: readiness is red" in d.stderr, d.stderr
        if d.returncode == 0:
            assert "pgbouncer has exited" in d.stderr, d.stderr
        assert docker("wait", pool, timeout=30).stdout.strip() == "0"
    finally:
        shutil.rmtree(secrets, ignore_errors=True)


class Pod:
    """A Deployment's pod template from the chart, run on the Docker engine as
    the kubelet would: one network namespace (a pause container, reachable
    by the Service's name), emptyDirs as tmpfs volumes owned by fsGroup, the
    Secret as a read-only directory whose file is group fsGroup and mode
    defaultMode, each container with its securityContext (user, read-only
    root, no new privileges, capabilities dropped), init containers to
    completion in order, native sidecars (restartPolicy Always) left running,
    then the containers."""

    def __init__(self, net, spec, name, secret_files):
        self.net, self.spec, self.name = net, spec, name
        self.cids, self.volumes, self.sources = {}, [], {}
        self.secret_dir = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-pod-secret-"))
        os.chmod(self.secret_dir, 0o755)
        group = spec["securityContext"].get("fsGroup", 0)
        for v in spec["volumes"]:
            if "emptyDir" in v:
                vol = f"pgbe-{TAG}-{name}-{v['name']}"
                docker("volume", "create", "--label", f"pgbe-test={TAG}", "--driver", "local",
                       "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt",
                       f"o=size=1m,uid=0,gid={group},mode=2775", vol)
                self.volumes.append(vol)
                self.sources[v["name"]] = ("volume", vol)
            else:
                sec = v["secret"]
                for item in sec["items"]:
                    f = self.secret_dir / item["path"]
                    f.write_text(secret_files[item["key"]])
                    os.chown(f, 0, group)
                    os.chmod(f, sec["defaultMode"])
                self.sources[v["name"]] = ("bind", str(self.secret_dir))
        # the pause container holds the emptyDirs too: a tmpfs volume lives
        # only while some container has it mounted (the init containers end)
        held = [f"--mount=type=volume,src={src},dst=/pod/{n}"
                for n, (kind, src) in self.sources.items() if kind == "volume"]
        self.pause = run_container(net, "pgbe-test-postgres:15", "infinity", name=name,
                                   opts=["--entrypoint", "sleep", *held])

    def docker_args(self, c):
        sc = dict(self.spec["securityContext"], **c.get("securityContext", {}))
        opts = ["--network", f"container:{self.pause}", "--label", f"pgbe-test={TAG}",
                "--user", f"{sc['runAsUser']}:{sc['runAsGroup']}"]
        if "fsGroup" in sc:
            opts += ["--group-add", str(sc["fsGroup"])]
        if sc.get("readOnlyRootFilesystem"):
            opts.append("--read-only")
        if sc.get("allowPrivilegeEscalation") is False:
            opts += ["--security-opt", "no-new-privileges"]
        for cap in sc.get("capabilities", {}).get("drop", []):
            opts += ["--cap-drop", cap]
        for e in c.get("env", []):
            opts += ["-e", f"{e['name']}={e['value']}"]
        for m in c.get("volumeMounts", []):
            assert "subPath" not in m, m
            kind, src = self.sources[m["name"]]
            ro = ",readonly" if m.get("readOnly") else ""
            opts += ["--mount", f"type={kind},src={src},dst={m['mountPath']}{ro}"]
        argv = c.get("command", []) + c.get("args", [])
        if c.get("command"):
            opts += ["--entrypoint", argv.pop(0)]
        return opts + [c["image"]] + argv

    def start(self):
        for c in self.spec.get("initContainers", []):
            if c.get("restartPolicy") == "Always":
                self.cids[c["name"]] = docker("run", "-d", *self.docker_args(c)).stdout.strip()
            else:
                r = docker("run", "--rm", *self.docker_args(c), check=False, timeout=300)
                assert r.returncode == 0, (c["name"], r.stderr)
        for c in self.spec["containers"]:
            self.cids[c["name"]] = docker("run", "-d", *self.docker_args(c)).stdout.strip()

    def container(self, name):
        return next(c for c in containers_of(self.spec) if c["name"] == name)

    def probe(self, container, probe, timeout=90):
        command = self.container(container)[probe]["exec"]["command"]
        deadline = time.monotonic() + timeout
        while True:
            r = docker("exec", self.cids[container], *command, check=False)
            if r.returncode == 0 or time.monotonic() > deadline:
                return r
            time.sleep(1)

    def running(self, name):
        return docker("inspect", "-f", "{{.State.Running}}", self.cids[name]).stdout.strip()

    def ip(self):
        return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                      self.pause).stdout.strip()

    def remove(self):
        for cid in list(self.cids.values()) + [self.pause]:
            docker("rm", "-f", cid, check=False)
        for vol in self.volumes:
            docker("volume", "rm", "-f", vol, check=False)
        shutil.rmtree(self.secret_dir, ignore_errors=True)


def containers_of(spec):
    return spec.get("initContainers", []) + spec["containers"]


def chart_pod(*sets):
    import yaml
    helm = ROOT / "build/tools/helm"
    assert helm.exists(), "build/tools/helm missing: scripts/install-tools.sh helm"
    args = ["template", "pool", str(ROOT / "charts/pgbouncer-entrypoint"), "--kube-version",
            "1.31.0", "--set", "image.repository=pgbouncer-entrypoint", "--set",
            "database.host=db", "--set", "database.sslmode=disable", "--set",
            "drain.delaySeconds=1"]
    for s in sets:
        args += ["--set", s]
    docs = [d for d in yaml.safe_load_all(sh(str(helm), *args).stdout) if d]
    return next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]


@pytest.mark.parametrize("sets", [["mode=run"], ["mode=init"],
                                  ["mode=run", "config.PGBOUNCER_PROCESSES=2"]],
                         ids=["run", "init", "run-processes-2"])
def test_chart_pod_runs_in_the_images(net, db, sets):
    """The chart's pod, as rendered, in the images: it comes up, both
    probes pass, a client logs in through the Service's name, the watch
    sidecar keeps running, the metrics sidecar serves pgbouncer_up 1, and
    preStop's drain ends pgbouncer with 0."""
    spec = chart_pod(*sets)
    name = f"chart-{sets[0][5:]}-{len(sets)}"
    p = Pod(net, spec, name, {"password": PASSWORD})
    try:
        p.start()
        for probe in ("readinessProbe", "livenessProbe"):
            r = p.probe("pgbouncer", probe)
            assert r.returncode == 0, (probe, r.stderr, docker("logs", p.cids["pgbouncer"]).stderr)
        assert client_query(net, name) == "app@app"
        assert p.running("watch") == "true", docker("logs", p.cids["watch"]).stderr
        port = p.container("metrics")["ports"][0]["containerPort"]
        with urllib.request.urlopen(f"http://{p.ip()}:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
        assert "\npgbouncer_up 1\n" in "\n" + text, text[:2000]
        if "config.PGBOUNCER_PROCESSES=2" in sets:
            assert 'process="2"' in text, text[:2000]
        stop = p.container("pgbouncer")["lifecycle"]["preStop"]["exec"]["command"]
        d = docker("exec", p.cids["pgbouncer"], *stop, check=False, timeout=60)
        # pgbouncer may be PID 1: the drain can end with the container (137)
        assert d.returncode in (0, 137), d.stderr
        assert "drain: readiness is red" in d.stderr, d.stderr
        assert docker("wait", p.cids["pgbouncer"], timeout=60).stdout.strip() == "0"
    finally:
        p.remove()


COMPOSE = shutil.which("docker-compose")


def compose_project(tmp, files, env, name):
    base = ["docker-compose", "-p", name, "--env-file", str(tmp / ".env")]
    for f in files:
        base += ["-f", str(f)]
    (tmp / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return base


LOCAL_IMAGES = "pgbouncer-entrypoint"  # PGBE_IMAGE for what `make image` loaded


def compose_example_serves(example, web, extra, image, override=None):
    """Bring EXAMPLE up (plus the test database) with PGBE_IMAGE=IMAGE, get the
    client URL the way its comment says, and check that the web service's
    query through the pool answers."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-compose-"))
    shutil.copytree(ROOT / "compose-examples", tmp, dirs_exist_ok=True)
    shutil.copy(ROOT / "tests/docker/compose.db.yml", tmp)
    files = [tmp / example, tmp / "compose.db.yml"]
    if override:
        (tmp / "override.yml").write_text(override)
        files.append(tmp / "override.yml")
    secret = tmp / "secrets" / "db_password.txt"
    secret.write_text(PASSWORD)
    os.chmod(secret, 0o644)
    pool = {"docker-compose.staging.yml": "pgbouncer-test",
            "docker-compose.prod.yml": "pgbouncer-prod"}.get(example, "pgbouncer")
    env = {"DB_HOST": "db", "DB_PORT": "5432", "DB_NAME": "app", "DB_USER": "app",
           "DB_SSLMODE": "disable", "WEB_IMAGE": "pgbe-test-postgres:15",
           "PGBOUNCER_HOST_PORT": str(free_port()), "DATABASE_URL": "unset",
           "PGBOUNCER_METRICS_HOST_PORT": str(free_port()), "PGBE_IMAGE": image}
    env.update(extra)
    name = f"pgbe{TAG}{example.split('.')[1]}{len(extra)}{uuid.uuid4().hex[:4]}"
    cmd = compose_project(tmp, files, env, name)
    try:
        # the URL applications use, as the example's comment says to get it
        svc = "pgbouncer-init" if "init" in example else pool
        # (the last line: compose prints its pull progress first)
        url = sh(*cmd, "run", "--rm", "--no-deps", svc, "client-url", "--host", pool,
                 cwd=tmp).stdout.strip().splitlines()[-1]
        assert url.startswith("postgresql://app:p%40ss%3Aw%2Frd")
        env["DATABASE_URL"] = url.replace("$", "$$")
        cmd = compose_project(tmp, files, env, name)
        sh(*cmd, "up", "-d", cwd=tmp, timeout=300)
        cid = sh(*cmd, "ps", "-q", web, cwd=tmp).stdout.strip()
        code = int(docker("wait", cid, timeout=180).stdout.strip())
        logs = docker("logs", cid)
        assert code == 0 and "app|app" in logs.stdout, logs.stdout + logs.stderr + \
            sh(*cmd, "logs", cwd=tmp, check=False).stdout
        # staging publishes no port; the watch example has no metrics service
        if example not in ("docker-compose.staging.yml", "docker-compose.watch.yml"):
            # the metrics sidecar reads pgbouncer's socket from the shared volume
            url = f"http://127.0.0.1:{env['PGBOUNCER_METRICS_HOST_PORT']}/metrics"
            with urllib.request.urlopen(url, timeout=30) as r:
                body = r.read().decode()
            assert "\npgbouncer_up 1\n" in body, body + \
                sh(*cmd, "logs", cwd=tmp, check=False).stdout
            assert 'pgbouncer_stats_totals_queries_pooled_total{database="app"}' in body, body
    finally:
        sh(*cmd, "down", "-v", "--remove-orphans", cwd=tmp, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


COMPOSE_EXAMPLES = [("docker-compose.prod.yml", "web"),
                    ("docker-compose.init.yml", "web"),
                    ("docker-compose.watch.yml", "web")]


@pytest.mark.skipif(not COMPOSE, reason="docker-compose not installed")
@pytest.mark.parametrize("example,web", COMPOSE_EXAMPLES, ids=["prod", "init", "watch"])
def test_compose_example_comes_up_and_serves(images, example, web):
    compose_example_serves(example, web, {}, LOCAL_IMAGES)


# the seed's .env.test, exactly its five variables (values for the test database)
# (a password with the characters that broke the seed's setup: @ : / %)
SEED_PASSWORD = "s33d:p@ss/w%rd"
SEED_ENV_TEST = {"DB_HOST": "db", "DB_PORT": "5432", "DB_NAME": "app", "DB_USER": "app",
                 "DB_PASSWORD": SEED_PASSWORD}

# Test-only: the database the seed's staging pointed at (Neon, TLS with a
# publicly trusted certificate) stands in as a TLS PostgreSQL named "db",
# whose CA replaces the image's bundle in the pool container.
STAGING_DB = """version: "3.8"
services:
  db:
    image: pgbe-test-postgres:15
    environment:
      APP_USER: ${DB_USER}
      APP_DB: ${DB_NAME}
      APP_PASSWORD: ${DB_PASSWORD}
    volumes: ["./tls:/tls:ro"]
  pgbouncer-test:
    volumes: ["./tls/ca.crt:/etc/ssl/certs/ca-certificates.crt:ro"]
"""


@pytest.mark.skipif(not COMPOSE, reason="docker-compose not installed")
def test_staging_example_comes_up_from_the_seeds_env_test_alone(images):
    """The seed's team: their .env.test as it is, the staging example as it
    is (verify-full, so the certificate is checked and SNI sent), then the
    seed's checks without psql in the image."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="pgbe-staging-"))
    shutil.copytree(ROOT / "compose-examples", tmp, dirs_exist_ok=True)
    tls = make_tls_files(tmp / "tls", cn="db")
    for f in tls.iterdir():
        os.chmod(f, 0o644)  # read by the containers' own uids (a test key)
    (tmp / "staging-db.yml").write_text(STAGING_DB)
    (tmp / ".env.test").write_text("".join(f"{k}={v}\n" for k, v in SEED_ENV_TEST.items()))
    name = f"pgbe{TAG}seed{uuid.uuid4().hex[:4]}"
    cmd = ["docker-compose", "-p", name, "--env-file", str(tmp / ".env.test"),
           "-f", str(tmp / "docker-compose.staging.yml"), "-f", str(tmp / "staging-db.yml")]
    # the image names come from the shell, not the env file: the local build
    env = dict(os.environ, PGBE_IMAGE=LOCAL_IMAGES, WEB_IMAGE="pgbe-test-postgres:15")
    try:
        url = sh(*cmd, "run", "--rm", "--no-deps", "pgbouncer-test", "client-url", "--host",
                 "pgbouncer-test", cwd=tmp, env=env).stdout.strip().splitlines()[-1]
        assert url == "postgresql://app:s33d%3Ap%40ss%2Fw%25rd@pgbouncer-test:6432/app", url
        sh(*cmd, "up", "-d", cwd=tmp, env=env, timeout=300)
        cid = sh(*cmd, "ps", "-q", "web-test", cwd=tmp, env=env).stdout.strip()
        code = int(docker("wait", cid, timeout=180).stdout.strip())
        logs = docker("logs", cid)
        assert code == 0 and "app|app|PostgreSQL 15" in logs.stdout, logs.stdout + logs.stderr \
            + sh(*cmd, "logs", cwd=tmp, env=env, check=False).stdout
        show = docker("exec", "pgbouncer-test", "/pgbouncer-entrypoint", "show", "pools")
        assert any(l.split("|")[0].strip() == "app" for l in show.stdout.splitlines()), show.stdout
        v = docker("exec", "pgbouncer-test", "/pgbouncer-entrypoint", "--version")
        assert v.stdout.startswith("pgbouncer-entrypoint "), v.stdout
        pool_logs = docker("logs", "pgbouncer-test")
        assert "accepts logins" in pool_logs.stderr, pool_logs.stderr
        assert SEED_PASSWORD not in pool_logs.stdout + pool_logs.stderr
    finally:
        sh(*cmd, "down", "-v", "--remove-orphans", cwd=tmp, env=env, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.skipif(not COMPOSE, reason="docker-compose not installed")
def test_compose_init_example_feeds_a_stock_debian_pgbouncer(images):
    compose_example_serves("docker-compose.init.yml", "web",
                           {"PGBOUNCER_BIN": "/usr/sbin/pgbouncer"}, LOCAL_IMAGES,
                           override="version: \"3.8\"\nservices:\n  pgbouncer:\n"
                                    "    image: pgbe-test-debian-pgbouncer\n")


def test_dockerfile_builder_stage_builds_the_same_images(images):
    """docker/Dockerfile as a user with internet access builds it; the Debian
    root filesystem imported here stands in for debian:bookworm."""
    tag = f"pgbe-from-source:{TAG}"
    docker("build", "-q", "-f", str(ROOT / "docker/Dockerfile"), "--build-arg",
           "BUILDER_IMAGE=pgbe-debian:bookworm", "--target", "pgbouncer", "-t", tag, str(ROOT),
           timeout=1800)
    try:
        v = docker("run", "--rm", tag, "--version")
        assert v.stdout.startswith(f"pgbouncer-entrypoint {VERSION}")
        p = docker("run", "--rm", "--entrypoint", "/usr/bin/pgbouncer", tag, "--version")
        assert "PgBouncer 1." in p.stdout + p.stderr
        ours = json.loads(docker("image", "inspect", "-f", "{{json .Config}}",
                                 "pgbouncer-entrypoint:latest").stdout)
        theirs = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", tag).stdout)
        for key in ("User", "Entrypoint", "Cmd", "StopSignal", "Healthcheck", "ExposedPorts"):
            assert ours[key] == theirs[key], key
    finally:
        docker("rmi", tag, check=False)
        # the builder stage's intermediate images are big; keep the disk clean
        docker("image", "prune", "-f", "--filter", "label=pgbouncer-entrypoint.stage=builder",
               check=False)
