#!/usr/bin/env bash
# Takes a fresh clone to ready: npm dependencies, then the system packages WebGPU needs on a machine without a GPU
# (SwiftShader, from Debian's chromium, plus the Vulkan loader). As root on Debian it installs them, saying so;
# elsewhere it prints the one command that would.
#   prepare.sh run   - the demo/CLI needs a WebGPU adapter
#   prepare.sh test  - the tests also need Chromium (the browser-path test)
set -euo pipefail
cd "$(dirname "$0")/../.."
mode="${1:-run}"
say() { echo "hiero: $*" >&2; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

packages=()
[ -e /usr/lib/chromium/vk_swiftshader_icd.json ] && command -v chromium >/dev/null 2>&1 || packages+=(chromium)
{ ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; } || packages+=(libvulkan1)

if [ ${#packages[@]} -gt 0 ]; then
  needed=yes
  if [ "$mode" = run ] && node --import tsx --import ./engine/node/register.mjs apps/cli/hiero.ts probe >/dev/null 2>&1; then
    needed=no # a real GPU answered; SwiftShader is only the fallback
  fi
  if [ "$needed" = yes ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing the SwiftShader prerequisites: apt-get install -y ${packages[*]} (one time, a few minutes)"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >&2
      apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    else
      say "missing system packages for WebGPU without a GPU. Install them with:"
      say "  sudo apt-get install -y chromium libvulkan1"
      exit 1
    fi
  fi
fi
