#!/usr/bin/env python3
"""SPDX 2.3 JSON SBOM of one image of one platform, from the build's own
record (scripts/build-deps.sh writes DEPS/components: name, Debian source
package, version, upstream tarball, its sha256, license) and the Debian
packages the build copied from (musl-dev, ca-certificates).

  sbom.py OUT --image init|pgbouncer --arch ARCH --version V --revision R
          --epoch SECONDS --components FILE --bin FILE [--bin FILE...]

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


def recorded(path):
    """DEPS/components lines -> {name: fields}."""
    out = {}
    for line in pathlib.Path(path).read_text().splitlines():
        name, pkg, version, tarball, sha256, license_ = line.split()
        out[name] = {"source": pkg, "version": version, "file": tarball, "sha256": sha256,
                     "license": license_}
    return out


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


def components(args):
    rec = recorded(args.components)
    musl = {"source": "musl", "version": dpkg_version(f"musl-dev:{args.arch}"),
            "license": "MIT", "file": None, "sha256": None}
    ca = {"source": "ca-certificates", "version": dpkg_version("ca-certificates"),
          "license": "MPL-2.0", "file": None, "sha256": None}
    comments = {"openssl": "static libssl and libcrypto, linked into every binary",
                "libpq": "static libpq, libpgcommon, libpgport (PostgreSQL client library)",
                "musl": "static C library (Debian package musl-dev), linked into every binary",
                "libevent": "static libevent, linked into pgbouncer",
                "mimalloc": "malloc of the static pgbouncer (musl builds)",
                "pgbouncer": "/usr/bin/pgbouncer, static",
                "ca-certificates": "/etc/ssl/certs/ca-certificates.crt (Debian's bundle)"}
    for name in CONTENTS[args.image]:
        c = {"musl": musl, "ca-certificates": ca}.get(name) or rec.get(name)
        if c is None and name == "mimalloc":
            continue  # a pgbouncer linked with the C library's own malloc
        yield package(f"SPDXRef-Package-{name}", name, c["version"], c["license"],
                      comments[name], c["source"], c["sha256"], c["file"])


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
    args = p.parse_args()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(args.epoch))
    ours = package("SPDXRef-Package-pgbouncer-entrypoint", "pgbouncer-entrypoint", args.version,
                   "ISC", f"/pgbouncer-entrypoint, linux/{args.arch}, revision {args.revision}")
    ours["checksums"] = [{"algorithm": "SHA256",
                          "checksumValue": hashlib.sha256(args.bin.read_bytes()).hexdigest()}]
    ours["packageFileName"] = "/pgbouncer-entrypoint"
    packages = [ours] + list(components(args))
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
