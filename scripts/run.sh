#!/usr/bin/env bash
# Runs sscard from this checkout, on a fresh machine too:
#   1. scripts/setup.sh installs what the product needs from the system when
#      it is missing — the fonts of the 业务反馈单 (Debian fonts-noto-cjk and
#      fonts-hanazono), without which slips cannot be issued;
#   2. builds and starts the server: `scripts/run.sh --demo` is
#      `cargo run --release -- serve --demo`; every argument goes to
#      `sscard serve` (see README.md and docs/configuration.md).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! scripts/setup.sh; then
  echo "warning: the slip fonts could not be installed; the server starts, but 业务反馈单 downloads answer 503 SLIP_FONTS_MISSING until they are (see docs/configuration.md, [slip] fonts)" >&2
fi
exec cargo run --release -- serve "$@"
