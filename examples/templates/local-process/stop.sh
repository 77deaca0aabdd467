#!/bin/sh
# Stops the workspace's process; succeeds if it was not running.
set -eu
. "$(dirname -- "$0")/lib.sh"

stop_process
