#!/usr/bin/env bash
# apt-install.sh WHO PACKAGE...: installs Debian packages for build-deps.sh and deps.sh, the
# one place that knows how: sudo when not root, no prompts, and no package's system service
# started (policy-rc.d 101: Orthanc's daemon would take ports 4242/8042; tests start their own).
set -euo pipefail
who=$1; shift
[ $# -gt 0 ] || exit 0
echo "$who: installing $*"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
