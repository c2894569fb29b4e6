#!/usr/bin/env bash
# Start or stop a private Podman API service (Docker-compatible) for the tests.
#
#   .ci/podman.sh start DIR   # socket at DIR/podman.sock, prints its unix:// URL
#   .ci/podman.sh stop DIR
#
# It never touches the host's Podman storage or network: its storage (--root,
# --runroot), temporary files, events log, network configs and containers.conf
# all live under DIR, and containers get no network (as the test dockerd's
# --bridge=none), so Podman adds no bridge and no firewall rules. What works on
# these machines (root, no systemd): runc with cgroupfs, vfs storage, and no
# default ulimits (Podman's usual nofile/nproc limits cannot be set here).
# One thing Podman 4.3 writes outside DIR whatever it is told: its image cache,
# /var/lib/containers/cache (root's default); stop removes that folder when
# start found no /var/lib/containers.
set -euo pipefail

action=${1:?usage: podman.sh start|stop DIR}
dir=${2:?usage: podman.sh start|stop DIR}
sock="$dir/podman.sock"

write_conf() {
    printf '%s\n' \
        '[containers]' \
        'default_ulimits = []' \
        'netns = "none"' \
        '' \
        '[network]' \
        "network_config_dir = \"$dir/net.d\"" \
        '' \
        '[engine]' \
        "tmp_dir = \"$dir/tmp\"" \
        'events_logger = "file"' \
        "events_logfile_path = \"$dir/tmp/events.log\"" \
        >"$dir/containers.conf"
}

start() {
    mkdir -p "$dir"
    chmod 0700 "$dir"
    if [ -S "$sock" ] && curl -sf --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1; then
        echo "unix://$sock"
        return 0
    fi
    rm -f "$sock" "$dir/pid"
    mkdir -p "$dir/tmp" "$dir/net.d"
    [ -e /var/lib/containers ] || touch "$dir/made-var-lib-containers"
    write_conf
    CONTAINERS_CONF="$dir/containers.conf" TMPDIR="$dir/tmp" nohup podman \
        --runtime runc --cgroup-manager cgroupfs --storage-driver vfs \
        --root "$dir/root" --runroot "$dir/runroot" \
        system service --time=0 "unix://$sock" \
        >"$dir/podman.log" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 1 120); do
        if curl -sf --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1; then
            chmod 0600 "$sock"
            echo "unix://$sock"
            return 0
        fi
        kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
        sleep 0.5
    done
    echo "podman system service did not answer /_ping within 60 s; its log:" >&2
    tail -n 40 "$dir/podman.log" >&2 || true
    return 1
}

# Every process of ours has its pid in a file under DIR: the service's, and each
# container's conmon (which outlives the service) and its first process.
stop_pid() {
    local pid=$1
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.25
    done
    kill -9 "$pid" 2>/dev/null || true
}

stop() {
    [ -d "$dir" ] || return 0
    if [ -f "$dir/pid" ]; then
        stop_pid "$(cat "$dir/pid")"
    fi
    local file
    while IFS= read -r file; do
        stop_pid "$(cat "$file" 2>/dev/null)" || true
    done < <(find "$dir/runroot" "$dir/root" \( -name conmon.pid -o -name pidfile \) 2>/dev/null)
    # Mounts below DIR (container root filesystems, /dev/shm), innermost first.
    awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
        while IFS= read -r target; do umount -l "$target" 2>/dev/null || true; done
    if [ -f "$dir/made-var-lib-containers" ]; then
        rm -rf /var/lib/containers
    fi
    rm -rf "$dir" 2>/dev/null || true
}

case "$action" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: podman.sh start|stop DIR" >&2; exit 2 ;;
esac
