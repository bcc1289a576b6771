#!/usr/bin/env bash
# Prints Debian's mirror as this machine's apt sources name it (a site behind a local mirror
# needs its own): the first non-security URI of its deb822 or one-line sources.
set -euo pipefail
sources=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2> /dev/null || true)
mirror=$(printf '%s\n' "$sources" | awk '($1 == "URIs:" || $1 == "deb") && $2 !~ /security/ && !found {print $2; found = 1}')
[ -n "$mirror" ] || { echo "debian-mirror.sh: no Debian mirror in this machine's apt sources" >&2; exit 1; }
echo "$mirror"
