#!/usr/bin/env bash
# Builds a local stand-in for sophgo/tpuc_dev, which no image registry here can provide:
# Debian bookworm (debootstrap from the machine's Debian mirror) with a Python 3.10 and the Python packages
# the TPU-MLIR tools import (torch, onnx, ...), copied from a TPU-MLIR venv of this machine
# *without* tpu_mlir itself, so that envs/tpu-mlir.Dockerfile really installs it on top.
# Usage: standin-image.sh TAG PYTHON310_PREFIX SITE_PACKAGES
set -euo pipefail
tag="$1" python_prefix="$2" site_packages="$3"
docker image inspect "$tag" > /dev/null 2>&1 && exit 0
work=$(mktemp -d "${TMPDIR:-/tmp}/posepipe-standin.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mirror=$(bash "$(dirname "$0")/../debian-mirror.sh")
# the shared libraries a pyenv-built CPython 3.10 and the tools load
debootstrap --variant=minbase \
    --include=libexpat1,libffi8,libssl3,zlib1g,libbz2-1.0,liblzma5,libsqlite3-0,libreadline8,libncursesw6,libuuid1,libgomp1 \
    bookworm "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -5 "$work/debootstrap.log" >&2; exit 1; }
cp -a "$python_prefix" "$rootfs/opt/python3.10"
target="$rootfs/opt/python3.10/lib/python3.10/site-packages"
tar -C "$site_packages" -c --exclude='./tpu_mlir*' . | tar -C "$target" -x
# this machine reaches PyPI through a TLS proxy whose CA the host trusts: so must the image
mkdir -p "$rootfs/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
echo /opt/python3.10/lib > "$rootfs/etc/ld.so.conf.d/python3.10.conf"
chroot "$rootfs" /sbin/ldconfig
tar -C "$rootfs" -c . | docker import \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PATH=/opt/python3.10/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$tag" > /dev/null
