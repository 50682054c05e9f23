#!/usr/bin/env bash
# Set-up for a fresh clone: npm dependencies, the build, and, only where they are missing,
# Mesa's software Vulkan driver (lavapipe: WebGPU in Node) and Chromium (WebGPU in a browser).
# A machine with a working GPU and a browser is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

npm ci --no-audit --no-fund
npm run build

can_install() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; }

# --- WebGPU in Node: a Vulkan driver --------------------------------------------------------
if ! node scripts/probe-gpu.mjs 2>/dev/null; then
  echo "setup: WebGPU finds no adapter; installing Mesa's software Vulkan driver (lavapipe)"
  if ! can_install; then
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
fi

# --- WebGPU in a browser: Chromium, for the browser tests and `bench --browser` --------------
# The same places src/cli/chromium.ts looks: RINGKERNEL_CHROMIUM, these names on the PATH, the macOS app bundles.
if [ -n "${RINGKERNEL_CHROMIUM:-}" ]; then
  [ -x "$RINGKERNEL_CHROMIUM" ] && exit 0
  echo "setup: RINGKERNEL_CHROMIUM=$RINGKERNEL_CHROMIUM is not an executable file" >&2
  exit 1
fi
for name in chromium chromium-browser google-chrome google-chrome-stable; do
  command -v "$name" >/dev/null 2>&1 && exit 0
done
for app in "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" "/Applications/Chromium.app/Contents/MacOS/Chromium"; do
  [ -x "$app" ] && exit 0
done
echo "setup: no Chromium found; installing Debian's chromium (headless WebGPU for the browser tests)"
if ! { can_install && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
  echo "setup: WARNING: no Chromium, and it could not be installed here: the browser tests will fail." >&2
  echo "       Install Chromium or Chrome (or set RINGKERNEL_CHROMIUM to one), or set RINGKERNEL_SKIP_BROWSER=1 to skip them." >&2
fi
