#!/usr/bin/env bash
# Installs the Debian packages sscard needs on this machine, when missing.
# Idempotent: installed packages are left alone, and nothing is fetched when
# everything is there.
#
#   scripts/setup.sh             the packages `sscard serve` needs at run time:
#                                  fonts-noto-cjk  Noto Sans CJK SC, the slip's font (业务反馈单)
#                                  fonts-hanazono  HanaMin A/B, for rare characters outside
#                                                  the BMP (CJK Ext. B …, e.g. 𠈌 in 王𠈌)
#   scripts/setup.sh PKG...      those and PKG... (scripts/test.sh passes the
#                                test tools: chromium, chromium-driver, …)
#
# Runs apt-get as root, or through sudo. Waits for another apt-get holding
# the package lock instead of failing.
set -euo pipefail

runtime=(fonts-noto-cjk fonts-hanazono)
wanted=("${runtime[@]}" "$@")

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  echo "scripts/setup.sh: this is not a Debian-based system (no dpkg/apt-get)." >&2
  echo "Install these packages (or their equivalents) yourself: ${wanted[*]}" >&2
  echo "and point [slip] fonts (SSCARD_SLIP_FONTS) at the font files, see docs/configuration.md." >&2
  exit 1
fi

missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "scripts/setup.sh: ${missing[*]} missing; run this script as root (or install sudo)." >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "==> installing ${missing[*]}"
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
