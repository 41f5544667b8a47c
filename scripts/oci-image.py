#!/usr/bin/env python3
"""Lay out the two FROM scratch images for every platform as OCI image
layouts with an image index each, byte for byte the same from the same
inputs (scripts/build-images.sh explains the choice; crane pushes them).

  oci-image.py OUT --version V --revision R --source URL --epoch SECONDS
               --platform ARCH=BINDIR ... --ca FILE --sbom-dir DIR --load ARCH

BINDIR holds that platform's pgbouncer-entrypoint and pgbouncer; DIR holds
sbom-<image>-<arch>.spdx.json.  Writes OUT/pgbouncer/ and OUT/init/ (OCI
layouts: oci-layout, index.json = the multi-platform index, blobs/) and
OUT/load-ARCH.tar, a `docker load` archive of both images of platform ARCH
(Docker 20.10 cannot load an OCI layout) tagged as the local names.

Reproducible: tar entries sorted, owners and modes set here, every mtime and
`created` from --epoch (SOURCE_DATE_EPOCH), gzip without name or time.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import pathlib
import shutil
import sys
import tarfile
import time

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
SBOM_PATH = "usr/share/doc/pgbouncer-entrypoint/sbom.spdx.json"
SECOND = 1_000_000_000

# What both images run as and how, as docker/final.Dockerfile says for
# `docker build` users: keep the two in step (a test compares them).
COMMON = {"User": "70:70", "Entrypoint": ["/pgbouncer-entrypoint"]}
IMAGES = {
    "init": {
        "config": {"Cmd": ["init"]},
        "labels": {
            "org.opencontainers.image.title": "pgbouncer-entrypoint init",
            "org.opencontainers.image.description":
                "Renders pgbouncer.ini and userlist.txt from the environment and waits for the "
                "upstream",
            "org.opencontainers.image.licenses": "ISC AND PostgreSQL AND Apache-2.0 AND MIT",
        },
    },
    "pgbouncer": {
        "config": {
            "Cmd": ["run"],
            "Env": ["PATH=/usr/bin"],
            "ExposedPorts": {"6432/tcp": {}},
            # pgbouncer 1.23+ answers SIGTERM by waiting for every client to
            # leave; SIGINT lets running transactions finish, then exits
            "StopSignal": "SIGINT",
            "Healthcheck": {"Test": ["CMD", "/pgbouncer-entrypoint", "health"],
                            "Interval": 10 * SECOND, "Timeout": 3 * SECOND,
                            "StartPeriod": 90 * SECOND, "Retries": 3},
        },
        "labels": {
            "org.opencontainers.image.title": "pgbouncer-entrypoint",
            "org.opencontainers.image.description":
                "PgBouncer configured from environment variables, FROM scratch",
            "org.opencontainers.image.licenses":
                "ISC AND PostgreSQL AND Apache-2.0 AND BSD-3-Clause AND MIT AND MPL-2.0",
        },
    },
}


def dirs(path):
    """The parent directories of path, outermost first."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[:i + 1]) for i in range(len(parts))]


def layer(entries, epoch):
    """entries: {path: (mode, uid, gid, source file or None for a directory)}.
    Returns (gzipped bytes, diff_id, size of the tar)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(entries):
            mode, uid, gid, src = entries[path]
            info = tarfile.TarInfo(path)
            info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, epoch
            info.uname = info.gname = ""
            if src is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                data = pathlib.Path(src).read_bytes()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    data = raw.getvalue()
    return gzip.compress(data, compresslevel=9, mtime=0), \
        "sha256:" + hashlib.sha256(data).hexdigest(), len(data)


def with_dirs(files, dir_owner=(0o755, 0, 0)):
    out = {}
    for path, spec in files.items():
        for d in dirs(path):
            out.setdefault(d, dir_owner + (None,))
        out[path] = spec
    return out


def layers_for(image, bindir, ca, sbom):
    """The layers of one image of one platform, bottom first."""
    base = with_dirs({"pgbouncer-entrypoint": (0o755, 0, 0, bindir / "pgbouncer-entrypoint")})
    # uid 70 by default and any uid with group 0 (OpenShift) can write it
    base["etc"] = (0o755, 0, 0, None)
    base["etc/pgbouncer"] = (0o770, 70, 0, None)
    out = [("entrypoint and /etc/pgbouncer", base)]
    if image == "pgbouncer":
        files = with_dirs({"usr/bin/pgbouncer": (0o755, 0, 0, bindir / "pgbouncer"),
                           "etc/ssl/certs/ca-certificates.crt": (0o644, 0, 0, ca)})
        files["tmp"] = (0o1777, 0, 0, None)
        out.append(("static pgbouncer, CA bundle, /tmp", files))
    out.append(("SPDX SBOM", with_dirs({SBOM_PATH: (0o644, 0, 0, sbom)})))
    return out


class Blobs:
    def __init__(self, root):
        self.root = root / "blobs" / "sha256"
        self.root.mkdir(parents=True, exist_ok=True)

    def put(self, data, media_type):
        digest = hashlib.sha256(data).hexdigest()
        (self.root / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def build_image(image, arch, bindir, args, blobs, layer_cache):
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(args.epoch))
    sbom = args.sbom_dir / f"sbom-{image}-{arch}.spdx.json"
    descs, diff_ids, history, unpacked = [], [], [], 0
    for comment, entries in layers_for(image, bindir, args.ca, sbom):
        key = canonical({k: [v[0], v[1], v[2], str(v[3])] for k, v in entries.items()})
        if key not in layer_cache:
            layer_cache[key] = layer(entries, args.epoch)
        gz, diff_id, tar_size = layer_cache[key]
        unpacked += tar_size
        descs.append(blobs.put(gz, OCI_LAYER))
        diff_ids.append(diff_id)
        history.append({"created": created, "created_by": f"scripts/oci-image.py: {comment}"})
    spec = IMAGES[image]
    labels = dict(spec["labels"])
    labels.update({"org.opencontainers.image.version": args.version,
                   "org.opencontainers.image.source": args.source,
                   "org.opencontainers.image.revision": args.revision,
                   "org.opencontainers.image.created": created})
    config = {"architecture": arch, "os": "linux", "created": created,
              "config": dict(COMMON, **spec["config"], Labels=labels),
              "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history}
    cfg = blobs.put(canonical(config), OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": descs,
                "annotations": {"org.opencontainers.image.created": created,
                                "org.opencontainers.image.revision": args.revision}}
    desc = blobs.put(canonical(manifest), OCI_MANIFEST)
    desc["platform"] = {"architecture": arch, "os": "linux"}
    sizes = (sum(d["size"] for d in descs), unpacked)
    return desc, cfg, descs, sizes


def write_layout(root, manifests):
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    (root / "index.json").write_bytes(canonical(index))
    return "sha256:" + hashlib.sha256(canonical(index)).hexdigest()


def docker_archive(path, entries, roots):
    """A `docker load` archive: manifest.json naming config and layers."""
    manifest, names = [], set()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, data):
            if name in names:
                return
            names.add(name)
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for image, tags, cfg, layers in entries:
            blob = lambda d: roots[image] / "blobs" / "sha256" / d["digest"].split(":")[1]
            for d in [cfg] + layers:
                add("blobs/sha256/" + d["digest"].split(":")[1], blob(d).read_bytes())
            manifest.append({"Config": "blobs/sha256/" + cfg["digest"].split(":")[1],
                             "RepoTags": tags,
                             "Layers": ["blobs/sha256/" + d["digest"].split(":")[1]
                                        for d in layers]})
        add("manifest.json", json.dumps(manifest).encode())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out", type=pathlib.Path)
    p.add_argument("--version", required=True)
    p.add_argument("--revision", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--epoch", type=int, required=True)
    p.add_argument("--platform", action="append", required=True)
    p.add_argument("--ca", type=pathlib.Path, required=True)
    p.add_argument("--sbom-dir", type=pathlib.Path, required=True)
    p.add_argument("--load", help="platform of the docker load archive")
    p.add_argument("--name", default="pgbouncer-entrypoint")
    args = p.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    tags = {"pgbouncer": ["latest", args.version], "init": ["init", args.version + "-init"]}
    roots, loads, digests, sizes = {}, [], {}, {}
    for image in ("pgbouncer", "init"):
        root = roots[image] = args.out / image
        blobs, cache, manifests = Blobs(root), {}, []
        for spec in args.platform:
            arch, bindir = spec.split("=", 1)
            desc, cfg, layers, (packed, unpacked) = build_image(image, arch, pathlib.Path(bindir),
                                                               args, blobs, cache)
            manifests.append(desc)
            sizes[f"{image} linux/{arch}"] = f"{packed / 1e6:.2f} MB compressed, " \
                                             f"{unpacked / 1e6:.2f} MB unpacked"
            digests[f"{image} linux/{arch}"] = desc["digest"]
            if arch == args.load:
                loads.append((image, [f"{args.name}:{t}" for t in tags[image]], cfg, layers))
        digests[f"{image} index"] = write_layout(root, manifests)
    if args.load:
        docker_archive(args.out / f"load-{args.load}.tar", loads, roots)
    (args.out / "digests").write_text("".join(f"{k}: {v}\n" for k, v in sorted(digests.items())))
    (args.out / "sizes").write_text("".join(f"{k}: {v}\n" for k, v in sorted(sizes.items())))
    sys.stdout.write((args.out / "digests").read_text() + (args.out / "sizes").read_text())


if __name__ == "__main__":
    main()
