#!/usr/bin/env bash
# ensure-packages.sh PACKAGE...: install the Debian packages that are missing
# (as root; otherwise name them and fail).  Waits for another package
# manager's lock (scripts/with-apt-lock.sh).
set -euo pipefail
need=()
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "ensure-packages: missing ${need[*]}; install them or run as root" >&2
	exit 1
fi
apt=("$(dirname "$0")/with-apt-lock.sh" apt-get)
echo "ensure-packages: installing ${need[*]}" >&2
"${apt[@]}" update -qq
DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq "${need[@]}" >/dev/null
