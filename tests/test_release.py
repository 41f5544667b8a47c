"""What a release is made of, checked without a registry: the workflow that
publishes it (linted with actionlint, pinned in scripts/install-tools.sh),
the binaries of both platforms (static, no build paths), their --version and
the SBOMs that name what they report, and the images' reproducibility."""
import json
import pathlib
import re
import shutil
import subprocess
import tempfile

import pytest
import yaml

from utils import ROOT, expected_sbom_versions, reported_versions

VERSION = re.search(r'PGBE_VERSION "(.*)"', (ROOT / "src/base/version.h").read_text()).group(1)
WORKFLOW = ROOT / ".github/workflows/release.yml"
QEMU = shutil.which("qemu-aarch64-static") or "/usr/bin/qemu-aarch64-static"
BINARIES = {"amd64": ROOT / "build", "arm64": ROOT / "build/arm64"}


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=kw.pop("timeout", 120), **kw)


def test_release_workflow_passes_actionlint():
    r = run(ROOT / "build/tools/actionlint", "-no-color", WORKFLOW, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_release_workflow_pushes_both_images_on_a_version_tag():
    wf = yaml.safe_load(WORKFLOW.read_text())
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads `on` as true
    assert on["push"]["tags"] == ["v*.*.*"]
    steps = [s.get("run", "") for job in wf["jobs"].values() for s in job["steps"]]
    assert any("make push REGISTRY=\"ghcr.io/$owner\"" in s for s in steps)
    assert wf["permissions"]["packages"] == "write"
    # signed keyless with the job's own identity, SBOMs attested
    assert wf["permissions"]["id-token"] == "write"
    assert any("make push REGISTRY=\"ghcr.io/$owner\" SIGN_KEYLESS=1" in s for s in steps)


def version_lines(arch, binary):
    cmd = [binary, "--version"] if arch == "amd64" else [QEMU, binary, "--version"]
    r = run(*cmd)
    return (r.stdout + r.stderr).splitlines()


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_binaries_are_static_for_their_platform_and_name_no_build_path(arch):
    d = BINARIES[arch]
    machine = "x86-64" if arch == "amd64" else "ARM aarch64"
    for name in ("pgbouncer-entrypoint", "pgbouncer", "unit-tests"):
        out = run("file", d / name).stdout
        assert machine in out and "statically linked" in out, out
    for name in ("pgbouncer-entrypoint", "pgbouncer"):
        data = (d / name).read_bytes()
        # the same commit builds the same bytes in any directory
        for path in {str(ROOT), str(ROOT.resolve()), "/build/deps-musl"}:
            assert path.encode() not in data, f"{d / name} contains {path}"


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_version_names_entrypoint_openssl_libpq_and_musl(arch):
    lines = version_lines(arch, BINARIES[arch] / "pgbouncer-entrypoint")
    assert lines[0] == f"pgbouncer-entrypoint {VERSION}"
    # the 3.5 LTS line, and which Debian revision with how many of its patches
    assert re.fullmatch(r"OpenSSL 3\.5\.\d+ \(Debian 3\.5\.\d+-\S+, \d+ patches\)", lines[1]), lines
    assert re.fullmatch(r"libpq 1\d\.\d+ \(Debian 1\d\.\d+-\S+, \d+ patches(, \d+ skipped)?\)",
                        lines[2]), lines
    assert re.fullmatch(r"musl 1\.2\.\d+.*", lines[3])


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
@pytest.mark.parametrize("image", ["pgbouncer", "init"])
def test_sbom_parses_and_names_every_component_the_binaries_report(arch, image):
    path = ROOT / f"build/sbom-{image}-{arch}.spdx.json"
    if not path.exists():
        subprocess.run([ROOT / "scripts/build-images.sh", VERSION], check=True, cwd=ROOT,
                       capture_output=True)
    sbom = json.loads(path.read_text())
    assert sbom["spdxVersion"] == "SPDX-2.3" and sbom["dataLicense"] == "CC0-1.0"
    packages = {p["name"]: p for p in sbom["packages"]}
    ids = {p["SPDXID"] for p in sbom["packages"]}
    for rel in sbom["relationships"]:
        assert rel["relatedSpdxElement"] in ids
    reported = reported_versions(version_lines(arch, BINARIES[arch] / "pgbouncer-entrypoint"))
    expect = expected_sbom_versions(reported)
    if image == "pgbouncer":
        pgb = dict(l.split(None, 1) for l in version_lines(arch, BINARIES[arch] / "pgbouncer")
                   if l)
        expect.update({"pgbouncer": pgb["PgBouncer"], "libevent": pgb["libevent"]})
        assert pgb["tls:"].startswith("OpenSSL " + reported["OpenSSL"][0])
        assert "ca-certificates" in packages
    for name, version in expect.items():
        assert name in packages, f"{name} missing from {path.name}"
        # exactly the Debian version built (pgbouncer and libevent report
        # only their upstream version, which it starts with)
        if name in ("pgbouncer", "libevent"):
            assert packages[name]["versionInfo"].startswith(version), (name, version)
        else:
            assert packages[name]["versionInfo"] == version, (name, version)
        assert packages[name]["licenseDeclared"] not in ("", "NOASSERTION")
    if image == "init":
        assert "pgbouncer" not in packages and "libevent" not in packages


def digests(root):
    return dict(l.split(": ", 1) for l in (root / "build/oci/digests").read_text().splitlines())


def test_two_image_builds_from_the_same_commit_give_the_same_digests(tmp_path):
    """make image here, and make image again in a copy of the same commit in
    another directory (entrypoint and unit tests rebuilt from scratch for both
    platforms; the dependency caches shared): every digest is the same."""
    r = run("make", "-s", "image", cwd=ROOT, timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    first = digests(ROOT)
    copy = tmp_path / "elsewhere" / "pgbouncer-entrypoint"
    assert run("git", "clone", "-q", "--no-local", ROOT, copy).returncode == 0
    # the working tree as it is (uncommitted edits included), same HEAD
    files = run("git", "ls-files", "-co", "--exclude-standard", "-z", cwd=ROOT).stdout
    for f in filter(None, files.split("\0")):
        if (ROOT / f).is_file():
            (copy / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, copy / f)
    (copy / "build").mkdir()
    for cache in ("src", "apt", "deps-musl-amd64", "deps-musl-arm64", "tools"):
        (copy / "build" / cache).symlink_to((ROOT / "build" / cache).resolve())
    r = run("make", "-s", "image", cwd=copy, timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    second = digests(copy)
    print("\nimage digests (both builds):\n" + "".join(f"  {k}: {v}\n" for k, v in first.items()))
    assert set(first) == {"init index", "init linux/amd64", "init linux/arm64",
                          "pgbouncer index", "pgbouncer linux/amd64", "pgbouncer linux/arm64"}
    assert first == second


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_sbom_names_every_debian_patch_the_build_applied_and_skipped(arch):
    """Per component, the SBOM's patch list is the whole Debian series of the
    source tree that was built, less scripts/deps.skip's, which it names as
    not applied: nothing applied goes unsaid, nothing unsaid is claimed."""
    deps = ROOT / f"build/deps-musl-{arch}"
    path = ROOT / f"build/sbom-pgbouncer-{arch}.spdx.json"
    if not path.exists():
        subprocess.run([ROOT / "scripts/build-images.sh", VERSION], check=True, cwd=ROOT,
                       capture_output=True)
    packages = {p["name"]: p for p in json.loads(path.read_text())["packages"]}
    skip = {}
    for line in (ROOT / "scripts/deps.skip").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pkg, patch = line.split()[:2]
            skip.setdefault(pkg, set()).add(patch)
    for name in ("musl", "openssl", "libpq", "libevent", "mimalloc", "pgbouncer"):
        source = packages[name]["sourceInfo"].split()[-2]
        series = deps / "work" / name / "debian/patches/series"
        listed = [l.split()[0] for l in series.read_text().splitlines()
                  if l.strip() and not l.startswith("#")] if series.exists() else []
        notes = [a["comment"] for a in packages[name].get("annotations", [])]
        applied = [n[len("Debian patch applied: "):] for n in notes
                   if n.startswith("Debian patch applied: ")]
        skipped = {n[len("Debian patch not applied: "):].split()[0] for n in notes
                   if n.startswith("Debian patch not applied: ")}
        assert applied == [p for p in listed if p not in skip.get(source, set())], name
        assert skipped == skip.get(source, set()) & set(listed), name
    # what the image's pgbouncer was patched for, by name
    assert any("CVE-2026-6664" in p for p in
               [a["comment"] for a in packages["pgbouncer"]["annotations"]])
