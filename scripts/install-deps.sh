#!/usr/bin/env bash
# Installs orderd's build and analysis dependencies from Debian's packages.
# Idempotent: does nothing when everything is present; runs `apt-get update` once,
# only when something is missing.
set -euo pipefail

pkgs=(
  build-essential pkg-config
  linux-perf
  libh2o-evloop-dev libssl-dev zlib1g-dev libuv1-dev
  liblua5.4-dev lua5.4
  libyaml-dev
  libjansson-dev
  libgoogle-perftools-dev google-perftools
  libdw-dev libelf-dev
  golang-go graphviz libxml2-utils
  wrk
  perl
  clang libclang-rt-14-dev
  python3 python3-jinja2
  clang-format
  chromium
  prometheus
  nodejs
)
# npm (t/38 installs npm's pprof-format with it): Debian's package, unless the node installed
# brings its own
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
