"""The privilege boundary (issue 8): started as root with a config directory
the run user can write, the binary never reads, chowns or writes a root-owned
file through what the run user planted there: symlinks, FIFOs, directories,
a racer swapping the new config directory for a link.  The last test checks
that no root-owned file changed owner, mode or content in all of it.

Runs as root (as the suite does): the run user is conftest's RUN_USER."""
import ctypes
import hashlib
import os
import pathlib
import shutil
import stat
import struct
import subprocess
import threading
import time

import pytest

from utils import (BIN, base_env, entrypoint, free_port, process_env, run_user_ids,
                      shown_names)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the privilege boundary needs root")

SHADOW = "root:$6$SHADOW-ONLY-ROOT-MAY-READ-THIS$x:19000:0:99999:7:::"
TOUCHED = ["pgbouncer.ini", "userlist.txt", "pgbouncer.ini.template", "userlist.txt.template"]


@pytest.fixture(scope="module")
def victims(workdir):
    """Root-owned files and a directory the run user must never get at, and
    their owner, mode and content when the module starts."""
    d = workdir / "root-only"
    d.mkdir(mode=0o700)
    shadow = d / "shadow"
    shadow.write_text(SHADOW + "\n")
    os.chmod(shadow, 0o600)
    inner = d / "inner"
    inner.mkdir(mode=0o700)
    (inner / "keep").write_text("root's\n")
    os.chmod(d, 0o755)  # the directory may be entered; its files are root's alone
    paths = [d, shadow, inner, inner / "keep"]
    yield {"dir": d, "shadow": shadow, "inner": inner, "paths": paths,
           "before": {p: fingerprint(p) for p in paths}}


def fingerprint(p):
    st = os.lstat(p)
    content = sorted(os.listdir(p)) if stat.S_ISDIR(st.st_mode) else \
        hashlib.sha256(p.read_bytes()).hexdigest()
    return (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), content)


def env_for(pg, **extra):
    return base_env(pg, "app", "pw-privileges", "app", free_port(), **extra)


def run_user_owns(path):
    uid, gid = run_user_ids()
    os.lchown(path, uid, gid)


def render(config_dir, env, timeout=20):
    return entrypoint(["render", "--config-dir", str(config_dir)], env, timeout=timeout)


def files_hold(config_dir, needle):
    for p in config_dir.rglob("*"):
        if p.is_file() and not p.is_symlink() and needle in p.read_text(errors="replace"):
            return p
    return None


@pytest.mark.parametrize("name", TOUCHED)
def test_planted_symlink_is_refused_as_root_and_never_read(pg, config_dir, victims, name):
    link = config_dir / name
    link.symlink_to(victims["shadow"])
    run_user_owns(link)
    r = render(config_dir, env_for(pg))
    assert r.returncode == 78, r.stderr
    assert f"'{link}'" in r.stderr and "symbolic link" in r.stderr, r.stderr
    assert "SHADOW-ONLY" not in r.stdout + r.stderr
    assert files_hold(config_dir, "SHADOW-ONLY") is None


@pytest.mark.parametrize("name", TOUCHED)
def test_planted_fifo_is_refused_and_never_blocks(pg, config_dir, name):
    fifo = config_dir / name
    os.mkfifo(fifo)
    run_user_owns(fifo)
    try:
        r = render(config_dir, env_for(pg), timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the entrypoint blocked on a FIFO named {name}")
    assert r.returncode == 78, r.stderr
    assert f"'{fifo}'" in r.stderr and "not a regular file" in r.stderr, r.stderr


@pytest.mark.parametrize("name", ["pgbouncer.ini.template", "userlist.txt.template"])
def test_directory_in_place_of_a_template_is_refused_78(pg, config_dir, name):
    (config_dir / name).mkdir()
    r = render(config_dir, env_for(pg))
    assert r.returncode == 78, r.stderr
    assert f"'{config_dir / name}'" in r.stderr and "not a regular file" in r.stderr


def test_directory_in_place_of_userlist_leaves_old_pair_73(pg, config_dir):
    assert render(config_dir, env_for(pg)).returncode == 0
    ini = (config_dir / "pgbouncer.ini").read_bytes()
    (config_dir / "userlist.txt").unlink()
    (config_dir / "userlist.txt").mkdir()
    entries = sorted(os.listdir(config_dir))
    r = render(config_dir, env_for(pg, LISTEN_PORT=str(free_port())))
    assert r.returncode == 73, r.stderr
    assert f"'{config_dir / 'userlist.txt'}' is a directory" in r.stderr
    assert (config_dir / "pgbouncer.ini").read_bytes() == ini, "the ini changed alone"
    assert sorted(os.listdir(config_dir)) == entries


def assert_pair_is_the_run_users(config_dir):
    """Both names are links into the generation that .pgbe-current names,
    whose two files are the run user's own, 0600."""
    uid, gid = run_user_ids()
    gen = os.readlink(config_dir / ".pgbe-current")
    assert gen.startswith(".pgbe-") and "/" not in gen, gen
    st = os.lstat(config_dir / gen)
    assert stat.S_ISDIR(st.st_mode) and (st.st_uid, st.st_gid) == (uid, gid)
    for n in ("pgbouncer.ini", "userlist.txt"):
        assert os.readlink(config_dir / n) == f".pgbe-current/{n}"
        st = os.lstat(config_dir / gen / n)
        assert stat.S_ISREG(st.st_mode) and (st.st_uid, st.st_gid) == (uid, gid)
        assert stat.S_IMODE(st.st_mode) == 0o600


def root_owned_dir_with_a_file(parent, name):
    d = parent / name
    d.mkdir(mode=0o700)
    (d / "server.key").write_text("root's key\n")
    os.chmod(d / "server.key", 0o600)
    return d


def assert_root_owned_dir_intact(d):
    st = os.lstat(d)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == 0, (d, st.st_uid)
    key = d / "server.key"
    assert os.lstat(key).st_uid == 0 and key.read_text() == "root's key\n"


def as_run_user_py(code, *args):
    """Python CODE in a child that is the run user, started now."""
    uid, gid = run_user_ids()

    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return subprocess.Popen(["/usr/bin/python3", "-c", code, *map(str, args)], preexec_fn=drop,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_root_directory_renamed_to_a_generation_name_is_never_emptied(pg, config_dir):
    """The run user renames a root-owned directory of the config directory
    to a generation's name: root removes old generations, but only its
    own, so that directory keeps its root-only file."""
    assert render(config_dir, env_for(pg)).returncode == 0
    d = root_owned_dir_with_a_file(config_dir, "certs")
    r = as_run_user_py("import os, sys; os.rename(sys.argv[1], sys.argv[2])",
                       d, config_dir / ".pgbe-0123456789abcdef")
    assert r.wait(10) == 0, r.stderr.read()
    assert render(config_dir, env_for(pg, LISTEN_PORT=str(free_port()))).returncode == 0
    assert_root_owned_dir_intact(config_dir / ".pgbe-0123456789abcdef")


# The run user watches the config directory while root makes a generation:
# strace holds root for a moment right after the call, the racer swaps
RACER = """
import os, sys, time
cfg, prefix, victim = sys.argv[1], sys.argv[2], sys.argv[3]
before = set(os.listdir(cfg))
end = time.monotonic() + 20
while time.monotonic() < end:
    new = [n for n in os.listdir(cfg) if n.startswith(prefix) and n not in before]
    if new:
        if os.path.isdir(os.path.join(cfg, new[0])) and not os.path.islink(os.path.join(cfg, new[0])):
            os.rename(os.path.join(cfg, new[0]), os.path.join(cfg, "moved-away"))
        os.rename(victim, os.path.join(cfg, new[0]))
        print(new[0])
        sys.exit(0)
    time.sleep(0.005)
sys.exit(1)
"""


@pytest.mark.parametrize("step", ["mkdirat", "symlinkat"])
def test_root_file_swapped_in_during_a_generation_is_never_chowned(pg, config_dir, step):
    """Right after root makes the new generation directory (mkdirat) or a
    temp link (symlinkat), the run user renames a root-owned directory or
    file of the config directory to that name: root must not chown it."""
    assert render(config_dir, env_for(pg)).returncode == 0
    if step == "mkdirat":
        victim, prefix = root_owned_dir_with_a_file(config_dir, "vdir"), ".pgbe-"
    else:
        victim, prefix = config_dir / "rootfile", ".pgbe-current."
        victim.write_text("root's secret\n")
        os.chmod(victim, 0o600)
    racer = as_run_user_py(RACER, config_dir, prefix, victim)
    time.sleep(0.3)  # the racer has listed the directory
    cmd = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={step}", "-e",
           f"inject={step}:delay_exit=700000:when=1", str(BIN), "render", "--config-dir",
           str(config_dir)]
    r = subprocess.run(cmd, env=process_env(env_for(pg, LISTEN_PORT=str(free_port()))),
                       capture_output=True, text=True, timeout=60)
    assert racer.wait(30) == 0, racer.stderr.read()
    swapped = config_dir / racer.stdout.read().strip()
    # the render may fail (73) or finish; what root never does is chown it
    assert r.returncode in (0, 73), r.stderr
    for p in config_dir.rglob("*"):
        st = os.lstat(p)
        if p.name in ("server.key", "vdir") or "root's" in (
                p.read_text(errors="replace") if stat.S_ISREG(st.st_mode) else ""):
            assert st.st_uid == 0, (p, st.st_uid, r.stderr)
    if step == "mkdirat":
        for d in (swapped, config_dir / "vdir"):
            if d.exists() and (d / "server.key").exists():
                assert_root_owned_dir_intact(d)


@pytest.mark.parametrize("what", ["symlink", "fifo"])
def test_planted_temp_file_names_are_never_followed(pg, config_dir, victims, what):
    """A single file (here pgbouncer.ini, next to the user's own userlist)
    goes through the temp name NAME.tmp.PID: plant it for the pid the
    entrypoint will have (a shell that execs it keeps its pid).  The pair
    goes through .pgbe-current, a name renamed over, never opened: plant
    that too, as a link to root's directory or a FIFO."""
    plant = ("ln -s \"$V\" \"$t\"" if what == "symlink" else "mkfifo \"$t\"") + \
        "; chown -h \"$U\" \"$t\"; "
    uid, gid = run_user_ids()
    env = process_env(env_for(pg))
    env.update(D=str(config_dir), V=str(victims["inner"]), U=f"{uid}:{gid}", B=str(BIN))
    # the pair
    script = "set -e; t=\"$D/.pgbe-current\"; " + plant + \
        "exec \"$B\" render --config-dir \"$D\""
    p = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert_pair_is_the_run_users(config_dir)
    assert shown_names(config_dir) == ["pgbouncer.ini", "userlist.txt"]
    # one file, next to a userlist of the user's own
    for n in os.listdir(config_dir):
        path = config_dir / n
        path.unlink() if path.is_symlink() else shutil.rmtree(path)
    (config_dir / "userlist.txt").write_text('"app" "pw-privileges"\n')
    run_user_owns(config_dir / "userlist.txt")
    script = "set -e; t=\"$D/pgbouncer.ini.tmp.$$\"; " + plant + \
        "exec \"$B\" render --config-dir \"$D\""
    p = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    st = os.lstat(config_dir / "pgbouncer.ini")
    assert stat.S_ISREG(st.st_mode) and (st.st_uid, st.st_gid) == (uid, gid)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert sorted(os.listdir(config_dir)) == ["pgbouncer.ini", "userlist.txt"]


def test_file_secret_through_a_planted_symlink_is_refused(pg, config_dir, victims):
    link = config_dir / "password"
    link.symlink_to(victims["shadow"])
    run_user_owns(link)
    env = env_for(pg, DB_PASSWORD_FILE=str(link))
    del env["DB_PASSWORD"]
    r = render(config_dir / "out", env)
    assert r.returncode == 78, r.stderr
    assert "DB_PASSWORD_FILE" in r.stderr and "symbolic link" in r.stderr
    assert "SHADOW-ONLY" not in r.stdout + r.stderr
    assert not (config_dir / "out").exists()


def test_file_secret_that_is_a_hard_link_to_a_root_only_file_is_refused(pg, config_dir, victims):
    link = config_dir / "password"
    os.link(victims["shadow"], link)
    try:
        env = env_for(pg, DB_PASSWORD_FILE=str(link))
        del env["DB_PASSWORD"]
        r = render(config_dir / "out", env)
        assert r.returncode == 78, r.stderr
        assert "DB_PASSWORD_FILE" in r.stderr and "run user cannot read it" in r.stderr
        assert "SHADOW-ONLY" not in r.stdout + r.stderr
    finally:
        link.unlink()


# /proc/self/environ: a regular file whose size (0) is not what reading it
# gives, as with a file still being written: what was read is not the file
@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "2 MiB", "directory",
                                    "/proc/self/environ"])
def test_file_secret_that_is_not_a_small_regular_file_is_refused_78(pg, config_dir, workdir,
                                                                     target):
    d = workdir / f"secret-{target.replace('/', '').replace(' ', '')}"
    d.mkdir(exist_ok=True)
    if target == "fifo":
        path = d / "fifo"
        if not path.exists():
            os.mkfifo(path)
    elif target == "2 MiB":
        path = d / "big"
        path.write_bytes(b"x" * (2 << 20))
    elif target == "directory":
        path = d
    else:
        path = pathlib.Path(target)
    env = env_for(pg, DB_PASSWORD_FILE=str(path))
    del env["DB_PASSWORD"]
    try:
        r = render(config_dir, env, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"DB_PASSWORD_FILE={path} ({target}) did not end")
    assert r.returncode == 78, r.stderr
    assert f"DB_PASSWORD_FILE '{path}'" in r.stderr, r.stderr
    reason = {"2 MiB": "larger than 1 MiB",
              "/proc/self/environ": "its size changed while it was read"}.get(
                  target, "not a regular file")
    assert reason in r.stderr, r.stderr


def test_template_larger_than_1_mib_is_refused_78(pg, config_dir):
    tmpl = config_dir / "userlist.txt.template"
    tmpl.write_text(";" + "x" * (1 << 20) + "\n")
    r = render(config_dir, env_for(pg))
    assert r.returncode == 78, r.stderr
    assert f"'{tmpl}'" in r.stderr and "larger than 1 MiB" in r.stderr


def k8s_volume(base, files, mode, request):
    """A Kubernetes ConfigMap/Secret volume, built as the kubelet does: a
    timestamped directory, ..data linking to it, and each file a link into
    ..data; then remounted read-only (the kubelet's volume directory is 0777
    on a read-only mount), or left as a root-owned directory."""
    base.mkdir()
    ro = mode == "read-only mount"
    if ro:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(base)], check=True)
        request.addfinalizer(lambda: subprocess.run(["umount", str(base)]))
        os.chmod(base, 0o777)
    ts = base / "..2026_11_26_19_00_00.123456789"
    ts.mkdir()
    for name, (text, fmode) in files.items():
        (ts / name).write_text(text)
        os.chmod(ts / name, fmode)
        (base / name).symlink_to(pathlib.Path("..data") / name)
    (base / "..data").symlink_to(ts.name)
    if ro:
        subprocess.run(["mount", "-o", "remount,ro", str(base)], check=True)
    return base


@pytest.mark.parametrize("mode", ["read-only mount", "root-owned directory"])
def test_kubernetes_configmap_and_secret_volumes_keep_working(pg, workdir, mode, request):
    base = workdir / f"k8s-{mode.split()[0]}"
    base.mkdir()
    password = "k8s-Secret-pw"
    ini = (f"[databases]\napp = host=127.0.0.1 port={pg.port} dbname=app\n[pgbouncer]\n"
           f"listen_addr = 127.0.0.1\nlisten_port = {free_port()}\n"
           f"auth_file = {base}/cm/userlist.txt\nauth_type = scram-sha-256\n")
    cm = k8s_volume(base / "cm", {"pgbouncer.ini": (ini, 0o644),
                                  "userlist.txt": (f'"app" "{password}"\n', 0o644)},
                    mode, request)
    secret = k8s_volume(base / "secret", {"password": (password + "\n", 0o400)}, mode, request)
    env = {"DB_HOST": "127.0.0.1", "DB_PORT": str(pg.port), "DB_NAME": "app", "DB_USER": "app",
           "DB_PASSWORD_FILE": str(secret / "password"),
           "PGBOUNCER_RUN_USER": "%d:%d" % run_user_ids()}
    r = entrypoint(["render", "--config-dir", str(cm)], env)
    assert r.returncode == 0, r.stderr
    # the supplied userlist was read through its links and checked against
    # the password read through the Secret's links: a wrong one is noticed
    env["DB_PASSWORD"] = "wrong-" + password
    del env["DB_PASSWORD_FILE"]
    r = entrypoint(["render", "--config-dir", str(cm)], env)
    assert r.returncode == 78 and "does not match DB_PASSWORD" in r.stderr, r.stderr


def inotify_racer(parent, name, swap, stop, ready):
    """Call SWAP() as soon as NAME appears in PARENT (inotify IN_CREATE),
    until STOP is set (then create PARENT/.stop to wake it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(0)
    assert fd >= 0 and libc.inotify_add_watch(fd, bytes(parent), 0x100) >= 0  # IN_CREATE
    ready.set()
    try:
        while not stop.is_set():
            data = os.read(fd, 65536)
            while data:
                _, _, _, length = struct.unpack_from("iIII", data)
                created = data[16:16 + length].rstrip(b"\0")
                data = data[16 + length:]
                if created == name.encode():
                    swap()
    finally:
        os.close(fd)


def remove_raced(path):
    """PATH gone, whatever the racer turns it into meanwhile (a directory
    checked, then a link by the time rmtree opens it)."""
    for _ in range(100):
        try:
            path.unlink() if path.is_symlink() else shutil.rmtree(path)
        except FileNotFoundError:
            return
        except OSError:
            # NotADirectoryError, or "rmtree on a symbolic link": the racer
            # turned it into a link between our check and rmtree's
            continue
        if not os.path.lexists(path):
            return
    raise AssertionError(f"{path} could not be removed")


def test_mkdir_chown_racer_never_gets_a_root_directory_chowned(pg, config_dir, victims):
    """The moment the entrypoint creates the missing config directory, a
    racer (inotify) swaps it for a link to a root-owned directory, while the
    entrypoint renders again and again; the run user owns the parent."""
    new = config_dir / "new"
    aside = config_dir / "aside"
    aside.mkdir()
    stop = threading.Event()
    swaps = [0]

    def swap():
        try:
            if new.is_symlink():
                return  # the racer's own link
            os.rename(new, aside / str(swaps[0]))
            os.symlink(victims["inner"], new)
            swaps[0] += 1
        except OSError:
            pass

    ready = threading.Event()
    t = threading.Thread(target=inotify_racer, args=(config_dir, "new", swap, stop, ready),
                         daemon=True)
    t.start()
    assert ready.wait(10)
    codes = {}
    try:
        for _ in range(100):
            remove_raced(new)
            r = render(new, env_for(pg))
            codes[r.returncode] = codes.get(r.returncode, 0) + 1
            assert r.returncode in (0, 73, 78), r.stderr
            assert fingerprint(victims["inner"]) == victims["before"][victims["inner"]], codes
    finally:
        stop.set()
        (config_dir / ".stop").touch()
        t.join(10)
    assert swaps[0] > 0, "the racer never swapped anything"
    assert sorted(os.listdir(victims["inner"])) == ["keep"]


def test_no_root_owned_file_changed_owner_mode_or_content(victims):
    """Runs last in this module: after every planted link, FIFO, directory
    and racer above, the root-owned files are as they were."""
    after = {p: fingerprint(p) for p in victims["paths"]}
    assert after == victims["before"]
