#!/usr/bin/env bash
# Installs Asterisk 16 (Debian bullseye's package; bookworm ships none), SIPp and baresip (a real softphone
# for the tests and the README's worked example), idempotently, as root.
# Only the packages we name come from bullseye: a pin at priority 100 keeps everything else on bookworm.
set -euo pipefail

need_asterisk=1; need_sipp=1; need_baresip=1
command -v asterisk >/dev/null 2>&1 && need_asterisk=0
command -v sipp >/dev/null 2>&1 && need_sipp=0
command -v baresip >/dev/null 2>&1 && need_baresip=0
[ $need_asterisk = 0 ] && [ $need_sipp = 0 ] && [ $need_baresip = 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "asterisk-conf/install.sh: Asterisk/SIPp/baresip missing and not root; install 'asterisk' (16+), 'sip-tester' and 'baresip'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

if [ $need_asterisk = 1 ] && ! apt-cache policy asterisk 2>/dev/null | grep -q 'Candidate: 1:16'; then
  if ! grep -rqs bullseye /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat > /etc/apt/sources.list.d/plateau-bullseye.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bullseye bullseye-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bullseye-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  cat > /etc/apt/preferences.d/plateau-bullseye <<'PIN'
Package: *
Pin: release n=bullseye
Pin-Priority: 100

Package: *
Pin: release n=bullseye-security
Pin-Priority: 100
PIN
  apt-get update -qq
fi

pkgs=()
# asterisk-modules (a dependency of asterisk) carries res_http_websocket, res_pjsip_transport_websocket and
# res_srtp for the browser phones; openssl makes their self-signed wss certificate (cti/pbx_process.py).
[ $need_asterisk = 1 ] && pkgs+=(asterisk asterisk-modules openssl asterisk-core-sounds-en asterisk-core-sounds-fr asterisk-moh-opsound-wav)
[ $need_sipp = 1 ] && pkgs+=(sip-tester)
[ $need_baresip = 1 ] && pkgs+=(baresip-core)
# policy-rc.d stops the package from starting a system Asterisk: Plateau runs its own private instance.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
