#!/usr/bin/env bash
# Builds a Debian 13 root in which the real MaixPy x86_64 wheel imports (../shared/REFERENCE.md
# section 5): its _maix.so needs glibc 2.38 (trixie has 2.41) and OpenCV 4.6, which is Debian
# 12's, taken from bookworm at a priority below trixie's own packages.
# Usage (as root, inside a mount namespace of its own: unshare --mount): build-root.sh DIR MAIXPY_PIN
set -euo pipefail
root="$1" maixpy="$2"
here=$(dirname "$0")
mirror=$(bash "$here/../debian-mirror.sh")
debootstrap --variant=minbase --include=python3,python3-venv,libpython3.13,libsdl2-2.0-0,libgomp1,ca-certificates \
    trixie "$root" "$mirror"
echo "deb $mirror bookworm main" > "$root/etc/apt/sources.list.d/bookworm.list"
printf 'Package: *\nPin: release n=bookworm\nPin-Priority: 100\n' > "$root/etc/apt/preferences.d/bookworm"
# the root uses the host's network and, where PyPI is reached through a TLS proxy, its CAs
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/host-ca-certificates.crt"
mount -t proc proc "$root/proc"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
in_root apt-get update -qq
in_root apt-get install -y -qq --no-install-recommends libopencv-core406 libopencv-imgproc406 libopencv-imgcodecs406
in_root apt-get clean
in_root python3 -m venv /opt/maixpy
in_root /opt/maixpy/bin/pip install -q --disable-pip-version-check \
    --cert /etc/ssl/certs/host-ca-certificates.crt --only-binary=:all: "$maixpy"
in_root /opt/maixpy/bin/python -c "import maix; print('maix', maix.__version__)"
mkdir -p "$root/mnt/run"  # where a run mounts its own folder (maixpy_root.py)
umount "$root/proc"
