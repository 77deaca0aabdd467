#!/bin/sh
# Starts the workspace's process (idempotent: a running one is kept).
set -eu
. "$(dirname -- "$0")/lib.sh"

mkdir -p "$state_dir"

if [ -f "$pid_file" ] && is_ours "$(cat "$pid_file")"; then
    pid="$(cat "$pid_file")"
    echo "process $pid is already running"
else
    # Its log is kept outside the state directory, which is packed after
    # the build and must not be written to while that happens.
    log_file="$(mktemp "${TMPDIR:-/tmp}/dayshift-local-process.XXXXXX")"
    echo "$log_file" >"$log_path_file"
    # setsid (where available) detaches the process from the build's
    # process group, so it outlives the build; its output goes to a file,
    # not to the build log, which must close when this script ends.
    if command -v setsid >/dev/null 2>&1; then
        detach=setsid
    else
        detach=nohup
    fi
    # The parameter is passed as an argument ("$1" inside), never pasted
    # into the program text.
    "$detach" sh -c '
        echo "$1, this is workspace $2"
        trap "kill \"\$child\" 2>/dev/null; exit 0" TERM INT HUP
        while :; do
            sleep 3600 &
            child=$!
            wait "$child"
        done
    ' "$marker" "${DAYSHIFT_PARAM_GREETING:-hello}" "$DAYSHIFT_WORKSPACE_NAME" \
        </dev/null >"$log_file" 2>&1 &
    pid=$!
    echo "$pid" >"$pid_file"
    echo "$this_host" >"$host_file"
    echo "started process $pid for $DAYSHIFT_WORKSPACE_OWNER/$DAYSHIFT_WORKSPACE_NAME"
fi

echo "dayshift-output pid=$pid"
echo "dayshift-output state_dir=$state_dir"
