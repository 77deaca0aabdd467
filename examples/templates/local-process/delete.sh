#!/bin/sh
# Stops the process and removes everything the workspace kept.
set -eu
. "$(dirname -- "$0")/lib.sh"

stop_process
rm -rf -- "$state_dir"
echo "removed $state_dir"
