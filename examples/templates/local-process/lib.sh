# Shared by start.sh, stop.sh and delete.sh (sourced, not run).
# Everything about the workspace comes from environment variables set by
# dayshift; nothing here is ever built from user input as code.

state_dir="${DAYSHIFT_STATE_DIR:?DAYSHIFT_STATE_DIR is not set}"
pid_file="$state_dir/pid"
# The state directory follows the workspace from machine to machine (the
# daemon that runs the next build restores it); the process does not. So
# the machine it runs on is kept beside its pid.
host_file="$state_dir/host"
log_path_file="$state_dir/log_path"
this_host="$(uname -n)"
# Tags the process's command line, so that a stale pid file (after a
# reboot the number may belong to somebody else) never makes us kill a
# stranger.
marker="dayshift-local-process-${DAYSHIFT_WORKSPACE_ID:?DAYSHIFT_WORKSPACE_ID is not set}"

# on_this_host: true if the recorded process was started on this machine.
on_this_host() {
    [ ! -f "$host_file" ] || [ "$(cat "$host_file")" = "$this_host" ]
}

# is_ours PID: true if PID is alive and is the process start.sh launched.
is_ours() {
    on_this_host || return 1
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
        elif ! on_this_host; then
            echo "process $pid runs on $(cat "$host_file"), not here ($this_host): nothing to stop on this machine"
        else
            echo "process $pid is not running"
        fi
        if on_this_host && [ -f "$log_path_file" ]; then
            rm -f -- "$(cat "$log_path_file")" "$log_path_file"
        fi
        rm -f "$pid_file" "$host_file"
    else
        echo "no process to stop"
    fi
}
