#!/usr/bin/env bash
# The whole test suite of sscard, from a fresh machine:
#   1. installs what the tests need from the system through scripts/setup.sh:
#      the product's own packages (the slip's fonts) and, for the tests,
#      Chromium and its WebDriver (browser tests), a Chinese font for readable
#      screenshots and Poppler's tools (pdftotext, pdftoppm, pdffonts) to read
#      the slip's PDF;
#   2. checks formatting and lints (warnings are errors);
#   3. runs every test on the embedded SQLite database;
#   4. when SSCARD_TEST_POSTGRES_URL names a PostgreSQL admin connection
#      (e.g. postgres://postgres@127.0.0.1:5432/postgres), runs the
#      integration suite again on PostgreSQL, one fresh database per test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh chromium chromium-driver fonts-wqy-microhei poppler-utils

echo "==> cargo fmt --check"
cargo fmt --all --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> tests on SQLite"
cargo nextest run --workspace --locked --no-fail-fast

if [ -n "${SSCARD_TEST_POSTGRES_URL:-}" ]; then
  echo "==> integration tests on PostgreSQL (${SSCARD_TEST_POSTGRES_URL%%@*}@…)"
  cargo nextest run --workspace --locked --no-fail-fast -E 'kind(test)'
fi
