#!/usr/bin/env bash
# The whole test suite of sscard, from a fresh machine:
#   1. installs what the tests need from the system (Chromium and its
#      WebDriver for the browser tests, a Chinese font for readable screenshots);
#   2. checks formatting and lints (warnings are errors);
#   3. runs every test on the embedded SQLite database;
#   4. when SSCARD_TEST_POSTGRES_URL names a PostgreSQL admin connection
#      (e.g. postgres://postgres@127.0.0.1:5432/postgres), runs the
#      integration suite again on PostgreSQL, one fresh database per test.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for package in chromium chromium-driver fonts-wqy-microhei; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "==> installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

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
