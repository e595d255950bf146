#!/usr/bin/env bash
# The test command: installs the reference implementations (idempotent), then
# runs every test of the workspace, differential and interop tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-references.sh
cargo test --workspace --all-targets --release
