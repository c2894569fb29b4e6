#!/usr/bin/env bash
# Start or stop a private dockerd for the tests.
#
#   .ci/dockerd.sh start DIR   # socket at DIR/docker.sock, prints its unix:// URL
#   .ci/dockerd.sh stop DIR
#
# It never touches /var/run/docker.sock or the host's network: its own
# data-root, exec-root and pidfile live under DIR, the bridge is off and it
# writes no iptables rules.
set -euo pipefail

action=${1:?usage: dockerd.sh start|stop DIR}
dir=${2:?usage: dockerd.sh start|stop DIR}
sock="$dir/docker.sock"

start() {
    mkdir -p "$dir"
    if [ -S "$sock" ] && curl -sf --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1; then
        echo "unix://$sock"
        return 0
    fi
    rm -f "$sock" "$dir/pid"
    # containerd is started by dockerd itself (its own, under exec-root).
    nohup dockerd \
        --host "unix://$sock" \
        --data-root "$dir/data" \
        --exec-root "$dir/exec" \
        --pidfile "$dir/pid" \
        --bridge=none --iptables=false --ip6tables=false \
        --storage-driver=vfs \
        >"$dir/dockerd.log" 2>&1 &
    for _ in $(seq 1 120); do
        if curl -sf --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1; then
            chmod 0600 "$sock"
            echo "unix://$sock"
            return 0
        fi
        sleep 0.5
    done
    echo "dockerd did not answer /_ping within 60 s; its log:" >&2
    tail -n 40 "$dir/dockerd.log" >&2 || true
    return 1
}

stop() {
    if [ -f "$dir/pid" ]; then
        pid=$(cat "$dir/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    # Containers' shims may outlive dockerd; stop what lives under our exec-root.
    pkill -f -- "$dir/exec" 2>/dev/null || true
    umount -R "$dir/exec" 2>/dev/null || true
    umount -R "$dir/data" 2>/dev/null || true
    rm -rf "$dir" 2>/dev/null || true
}

case "$action" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: dockerd.sh start|stop DIR" >&2; exit 2 ;;
esac
