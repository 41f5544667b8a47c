#!/usr/bin/env python3
"""SPDX 2.3 JSON SBOM of one image of one platform, from the build's own
record (scripts/build-deps.sh writes DEPS/components and DEPS/components.d:
per component the Debian source package and version, every file with its
sha256, the patches applied and skipped, the upstream signature, a fallback
to an older version than the pin) and the Debian packages the build copied
from (ca-certificates).  For each known musl CVE it says whether a patch
applied fixes it, else whether its functions are linked into the image's
binaries (their unstripped copies).

  sbom.py OUT --image init|pgbouncer --arch ARCH --version V --revision R
          --epoch SECONDS --components FILE --bin FILE [--symbols FILE...]

A scratch image has no package database for scanners to read; this file,
at /usr/share/doc/pgbouncer-entrypoint/sbom.spdx.json, says what is inside.
"""
import argparse
import hashlib
import json
import pathlib
import subprocess
import time

# what each image links or carries, beyond the entrypoint itself
CONTENTS = {"init": ["openssl", "libpq", "musl"],
            "pgbouncer": ["openssl", "libpq", "musl", "libevent", "mimalloc", "pgbouncer",
                          "ca-certificates"]}


def dpkg_version(pkg):
    return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], check=True,
                          capture_output=True, text=True).stdout.strip()


# Known CVEs of musl 1.2.x: the functions each is in, and the Debian patch
# (by a part of its file name) that fixes it.  For each the SBOM says
# whether a patch applied fixes it, else whether one of the functions is
# linked into one of the image's binaries.
MUSL_CVES = {
    "CVE-2025-26519": ("iconv, EUC-KR decoder", {"iconv", "iconv_open"}, "CVE-2025-26519"),
    "CVE-2026-6042": ("iconv, GB18030", {"iconv", "iconv_open"}, "pathological-slowness"),
    "CVE-2026-40200": ("qsort, heap corruption", {"qsort", "qsort_r", "__qsort_r"},
                       "qsort-fix-leonardo-heap"),
}


def recorded(path):
    """DEPS/components lines -> {name: fields}, with DEPS/components.d/NAME:
    files, patches applied and skipped, signature, fallback."""
    out = {}
    detail_dir = pathlib.Path(path).parent / "components.d"
    for line in pathlib.Path(path).read_text().splitlines():
        name, pkg, version, dsc, sha256, license_ = line.split()
        c = {"source": pkg, "version": version, "file": dsc, "sha256": sha256,
             "license": license_, "files": [], "applied": [], "skipped": [],
             "signature": None, "fallback": None}
        detail = detail_dir / name
        for d in detail.read_text().splitlines() if detail.exists() else []:
            key, _, rest = d.partition(" ")
            if key == "file":
                c["files"].append(rest)
            elif key == "applied":
                c["applied"].append(rest)
            elif key == "skipped":
                c["skipped"].append(rest)
            elif key == "signature":
                c["signature"] = rest
            elif key == "fallback":
                c["fallback"] = rest
        out[name] = c
    return out


def linked_symbols(paths, arch):
    """Every defined symbol of the unstripped binaries."""
    nm = "nm" if arch == "amd64" else "aarch64-linux-gnu-nm"
    names = set()
    for path in paths:
        out = subprocess.run([nm, "--defined-only", str(path)], check=True,
                             capture_output=True, text=True).stdout
        names.update(l.split()[-1] for l in out.splitlines() if l.strip())
    return names


def musl_cves(symbols, applied):
    """One line per known musl CVE: fixed, touched or not, and why."""
    lines = []
    for cve, (where, funcs, fix) in sorted(MUSL_CVES.items()):
        fixed = [p for p in applied if fix in p]
        hit = sorted(funcs & symbols)
        state = (f"fixed by the Debian patch {', '.join(fixed)}" if fixed
                 else f"AFFECTED, linked: {', '.join(hit)}" if hit
                 else "not linked into this image")
        lines.append(f"{cve} ({where}): {state}" + ("; linked" if fixed and hit else ""))
    return lines


def annotate(pkg, when, notes):
    pkg["annotations"] = [{"annotationType": "OTHER", "annotationDate": when,
                           "annotator": "Tool: pgbouncer-entrypoint scripts/sbom.py",
                           "comment": n} for n in notes]


def package(spdxid, name, version, license_, comment, source=None, sha256=None, file=None):
    pkg = {"SPDXID": spdxid, "name": name, "versionInfo": version,
           "supplier": "Organization: Debian" if source else "NOASSERTION",
           "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
           "licenseConcluded": license_, "licenseDeclared": license_,
           "copyrightText": "NOASSERTION", "comment": comment}
    if source:
        pkg["sourceInfo"] = f"built from the Debian source package {source} {version}"
        pkg["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER",
                                "referenceType": "purl",
                                "referenceLocator": f"pkg:deb/debian/{source}@{version}"
                                                    "?arch=source"}]
    if sha256:
        pkg["packageFileName"] = file
        pkg["checksums"] = [{"algorithm": "SHA256", "checksumValue": sha256}]
    return pkg


def components(args, when):
    rec = recorded(args.components)
    ca = {"source": "ca-certificates", "version": dpkg_version("ca-certificates"),
          "license": "MPL-2.0", "file": None, "sha256": None, "applied": [], "skipped": [],
          "files": [], "signature": None, "fallback": None}
    comments = {"openssl": "static libssl and libcrypto, linked into every binary",
                "libpq": "static libpq, libpgcommon, libpgport (PostgreSQL client library)",
                "musl": "static C library, linked into every binary",
                "libevent": "static libevent, linked into pgbouncer",
                "mimalloc": "malloc of the static pgbouncer (musl builds)",
                "pgbouncer": "/usr/bin/pgbouncer, static",
                "ca-certificates": "/etc/ssl/certs/ca-certificates.crt (Debian's bundle)"}
    for name in CONTENTS[args.image]:
        c = {"ca-certificates": ca}.get(name) or rec.get(name)
        if c is None and name == "mimalloc":
            continue  # a pgbouncer linked with the C library's own malloc
        pkg = package(f"SPDXRef-Package-{name}", name, c["version"], c["license"],
                      comments[name], c["source"], c["sha256"], c["file"])
        notes = [f"source file {f}" for f in c["files"]]
        notes += [f"Debian patch applied: {p}" for p in c["applied"]]
        notes += [f"Debian patch not applied: {p}" for p in c["skipped"]]
        if c["signature"]:
            notes.append(f"upstream signature: {c['signature']}")
        if c["fallback"]:
            notes.append(f"WARNING: built with ALLOW_OLDER_DEPS=1: {c['version']} is OLDER than "
                         f"the pinned {c['fallback']}, which did not download")
        if name in rec:
            pkg["comment"] += (f"; Debian source package {c['source']} {c['version']} with "
                               f"{len(c['applied'])} of its patches applied"
                               + (f", {len(c['skipped'])} not applied (packaging only)"
                                  if c["skipped"] else "")
                               + (f"; OLDER than the pin {c['fallback']}" if c["fallback"]
                                  else ""))
        if name == "musl":
            cves = musl_cves(linked_symbols(args.symbols, args.arch), c["applied"])
            pkg["comment"] += "; known CVEs of musl 1.2: " + "; ".join(cves)
            notes += cves
        if notes:
            annotate(pkg, when, notes)
        yield pkg


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out", type=pathlib.Path)
    p.add_argument("--image", choices=sorted(CONTENTS), required=True)
    p.add_argument("--arch", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--revision", required=True)
    p.add_argument("--epoch", type=int, required=True)
    p.add_argument("--components", required=True)
    p.add_argument("--bin", type=pathlib.Path, required=True)
    p.add_argument("--symbols", type=pathlib.Path, action="append", required=True,
                   help="an unstripped binary of the image (each one it has)")
    args = p.parse_args()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(args.epoch))
    ours = package("SPDXRef-Package-pgbouncer-entrypoint", "pgbouncer-entrypoint", args.version,
                   "ISC", f"/pgbouncer-entrypoint, linux/{args.arch}, revision {args.revision}")
    ours["checksums"] = [{"algorithm": "SHA256",
                          "checksumValue": hashlib.sha256(args.bin.read_bytes()).hexdigest()}]
    ours["packageFileName"] = "/pgbouncer-entrypoint"
    packages = [ours] + list(components(args, created))
    title = "pgbouncer-entrypoint" + ("-init" if args.image == "init" else "")
    image = package("SPDXRef-Image", f"{title} image", args.version,
                    " AND ".join(sorted({p["licenseDeclared"] for p in packages})),
                    f"the FROM scratch image, linux/{args.arch}: everything in it is listed")
    doc = {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{title} {args.version} linux/{args.arch}",
        "documentNamespace": f"https://spdx.org/spdxdocs/{title}-{args.version}-{args.arch}-"
                             f"{args.revision}",
        "creationInfo": {"created": created,
                         "creators": ["Tool: pgbouncer-entrypoint scripts/sbom.py"]},
        "packages": [image] + packages,
        "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                           "relatedSpdxElement": "SPDXRef-Image"}] +
                         [{"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS",
                           "relatedSpdxElement": pkg["SPDXID"]} for pkg in packages],
    }
    args.out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
