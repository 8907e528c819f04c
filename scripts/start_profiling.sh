#!/usr/bin/env bash
# The one-command demo (interim version): installs what is missing, builds, and starts
# orderd with the default config in the foreground.  Stop it with Ctrl-C (it drains).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
make -s all
exec build/orderd -c config/orderd.yaml
