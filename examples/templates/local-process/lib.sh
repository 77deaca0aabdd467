# Shared by start.sh, stop.sh and delete.sh (sourced, not run).
# Everything about the workspace comes from environment variables set by
# dayshift; nothing here is ever built from user input as code.

state_dir="${DAYSHIFT_STATE_DIR:?DAYSHIFT_STATE_DIR is not set}"
pid_file="$state_dir/pid"
# Tags the process's command line, so that a stale pid file (after a
# reboot the number may belong to somebody else) never makes us kill a
# stranger.
marker="dayshift-local-process-${DAYSHIFT_WORKSPACE_ID:?DAYSHIFT_WORKSPACE_ID is not set}"

# is_ours PID: true if PID is alive and is the process start.sh launched.
is_ours() {
    kill -0 "$1" 2>/dev/null || return 1
    if [ -r "/proc/$1/cmdline" ]; then
        # A zombie has an empty command line: it counts as gone.
        tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "$marker"
    else
        ps -p "$1" -o args= 2>/dev/null | grep -q -- "$marker"
    fi
}

# stop_process: stops the process if it runs, then removes the pid file.
# Safe to run any number of times.
stop_process() {
    if [ -f "$pid_file" ]; then
        pid="$(cat "$pid_file")"
        if is_ours "$pid"; then
            echo "stopping process $pid"
            kill -TERM "$pid" 2>/dev/null || true
            # Wait (at most ~10s) so that a finished stop means the
            # process is really gone; then insist.
            tries=0
            while is_ours "$pid"; do
                tries=$((tries + 1))
                if [ "$tries" -gt 100 ]; then
                    echo "process $pid ignored SIGTERM, killing it" >&2
                    kill -KILL "$pid" 2>/dev/null || true
                    break
                fi
                sleep 0.1 2>/dev/null || sleep 1
            done
        else
            echo "process $pid is not running"
        fi
        rm -f "$pid_file"
    else
        echo "no process to stop"
    fi
}
