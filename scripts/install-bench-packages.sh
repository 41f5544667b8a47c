#!/usr/bin/env bash
# Debian packages `make bench` needs beyond the test ones: iproute2 (ip netns
# and tc, to use netem for the simulated link when the kernel has it).
# pgbench comes with postgresql-client-15 (install-test-packages.sh).
exec "$(dirname "$0")/ensure-packages.sh" iproute2
