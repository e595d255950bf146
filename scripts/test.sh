#!/usr/bin/env bash
# The test command. On a fresh Debian machine it installs what the tests
# need (system packages, then the reference implementations, both
# idempotent), then runs every test of the workspace: unit, integration,
# differential and end-to-end tests, the doctests, and a short run of every
# fuzz target.
#
# Needs the package registries (Debian, npm, PyPI, crates.io) the first
# time. The references go to $FERROGRAPH_REFS (default /opt/ferrograph-refs
# as root, else ~/.cache/ferrograph-refs). About 20 minutes on 2 cores from
# a cold build, about 12 once built.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ci-prerequisites.sh
# shellcheck source=scripts/refs-dir.sh
. scripts/refs-dir.sh
scripts/install-references.sh
cargo test --workspace --all-targets --release
cargo test --workspace --doc --release
# a short coverage-guided run of every fuzz target over its corpus
# (docs/fuzzing.md): a crash fails the test command
scripts/fuzz-smoke.sh 10
