#!/usr/bin/env bash
# Set-up for a fresh clone: npm dependencies, the build, and, only where WebGPU finds no
# adapter, Mesa's software Vulkan driver (lavapipe). A machine with a working GPU is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

npm ci --no-audit --no-fund
npm run build

if node scripts/probe-gpu.mjs 2>/dev/null; then
  exit 0
fi

echo "setup: WebGPU finds no adapter; installing Mesa's software Vulkan driver (lavapipe)"
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "setup: cannot install it here (needs apt-get as root). Install a Vulkan driver yourself:" >&2
  echo "       Mesa >= 24 lavapipe (package mesa-vulkan-drivers) and the Vulkan loader (libvulkan1)," >&2
  echo "       or your GPU vendor's Vulkan driver. Then rerun this script." >&2
  exit 1
fi
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ]; then
  # Debian 12's own Mesa 22 lavapipe lacks features Dawn requires; bookworm-backports has Mesa 25.
  echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/bookworm-backports.list
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
else
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi
node scripts/probe-gpu.mjs
