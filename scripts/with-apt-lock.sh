#!/usr/bin/env bash
# with-apt-lock.sh apt-get|dpkg ARG...: the command, waiting for a lock that
# another apt or dpkg holds instead of failing at once.  A new machine often
# runs unattended-upgrades at first boot; two of our own steps may also meet.
# Every lock (dpkg's, the package lists' that apt-get update takes, the
# archive cache's) is waited for here, in one loop with one bound,
# PGBE_APT_LOCK_TIMEOUT seconds (default 600): apt's own DPkg::Lock::Timeout
# covers dpkg's locks only, and waits without a word when output is quiet.
# Says at once that it waits, and on what.
set -uo pipefail
bound=${PGBE_APT_LOCK_TIMEOUT:-600}
deadline=$((SECONDS + bound))
cmd=("$@")
[ "$1" != apt-get ] || cmd=(apt-get -o DPkg::Lock::Timeout=0 "${@:2}")
locked='Could not get lock|Unable to lock|Unable to acquire|lock was locked|unable to lock'
err=$(mktemp)
trap 'rm -f "$err"' EXIT
said=
while :; do
	"${cmd[@]}" 2>"$err"
	rc=$?
	if [ "$rc" -eq 0 ] || ! grep -qE "$locked" "$err"; then
		cat "$err" >&2
		exit "$rc"
	fi
	if [ "$SECONDS" -ge "$deadline" ]; then
		cat "$err" >&2
		echo "$1: gave up waiting for the lock after $bound s (PGBE_APT_LOCK_TIMEOUT)" >&2
		exit "$rc"
	fi
	if [ -z "$said" ]; then
		# apt and dpkg name the lock and, where they can, who holds it
		echo "$1: waiting up to $bound s for another package manager:" \
			"$(grep -m1 -E "$locked" "$err" | sed 's/^E: //; s/^dpkg: error: //')" >&2
		said=1
	fi
	sleep 2
done
