#!/usr/bin/env bash
# Start or stop a private Podman API service (Docker-compatible) for the tests.
#
#   .ci/podman.sh start DIR   # socket at DIR/podman.sock, prints its unix:// URL
#   .ci/podman.sh stop DIR
#
# It never touches the host's Podman storage or network: its storage (--root,
# --runroot), temporary files, events log, network configs, IP leases and
# containers.conf all live under DIR, and the service runs in network and
# mount namespaces of its own (unshare), with a private /run: the bridge,
# veths and firewall rules Podman makes for a container's default network, and
# its /run/netns and /run/runc, exist only there and vanish with its last
# process. (The compat API gives every container Podman's bridge network,
# whatever containers.conf says.)
# What works on these machines (root, no systemd): runc with cgroupfs, vfs
# storage, and no default ulimits (Podman's nofile/nproc limits cannot be set).
# The network backend is CNI, named outright (.ci/run installs its plugins):
# Podman would pick netavark instead wherever that is installed.
# Two things Podman 4.3 writes outside DIR whatever it is told: its image cache,
# /var/lib/containers/cache (root's default), and the CNI library's cache of
# network results, /var/lib/cni/results; stop removes each of those folders
# when start did not find it there.
set -euo pipefail

action=${1:?usage: podman.sh start|stop DIR}
dir=${2:?usage: podman.sh start|stop DIR}
sock="$dir/podman.sock"

write_conf() {
    printf '%s\n' \
        '[containers]' \
        'default_ulimits = []' \
        '' \
        '[network]' \
        'network_backend = "cni"' \
        "network_config_dir = \"$dir/net.d\"" \
        '' \
        '[engine]' \
        "tmp_dir = \"$dir/tmp\"" \
        'events_logger = "file"' \
        "events_logfile_path = \"$dir/tmp/events.log\"" \
        >"$dir/containers.conf"
    # The default network, as Podman would make it, but with the IP leases of
    # its host-local IPAM plugin under DIR (the plugin's default is /var/lib/cni,
    # where leases of killed containers would outlive the service).
    cat >"$dir/net.d/87-podman.conflist" <<EOF_CONF
{
  "cniVersion": "0.4.0",
  "name": "podman",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni-podman0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "routes": [{"dst": "0.0.0.0/0"}],
        "ranges": [[{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]],
        "dataDir": "$dir/cni"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "firewall"},
    {"type": "tuning"}
  ]
}
EOF_CONF
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
    [ -e /var/lib/cni ] || touch "$dir/made-var-lib-cni"
    write_conf
    # The child shell records its pid, makes /run private and becomes podman (exec).
    CONTAINERS_CONF="$dir/containers.conf" TMPDIR="$dir/tmp" PODMAN_DIR="$dir" nohup \
        unshare --net --mount --propagation private --fork -- /bin/sh -c '
            echo $$ >"$PODMAN_DIR/pid"
            mount -t tmpfs -o mode=0755 tmpfs /run && ip link set lo up || exit 1
            exec podman --runtime runc --cgroup-manager cgroupfs --storage-driver vfs \
                --root "$PODMAN_DIR/root" --runroot "$PODMAN_DIR/runroot" \
                system service --time=0 "unix://$PODMAN_DIR/podman.sock"' \
        >"$dir/podman.log" 2>&1 &
    for _ in $(seq 1 120); do
        if curl -sf --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1; then
            chmod 0600 "$sock"
            echo "unix://$sock"
            return 0
        fi
        if [ -f "$dir/pid" ] && ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
            break
        fi
        sleep 0.5
    done
    echo "podman system service did not answer /_ping within 60 s; its log:" >&2
    tail -n 40 "$dir/podman.log" >&2 || true
    return 1
}

# Our processes, found by id: those whose command line names DIR (the service,
# each container's conmon, which outlives it, and Podman's clean-up commands),
# and each conmon's children (a container's first process, an exec session).
ours() {
    local proc
    for proc in /proc/[0-9]*; do
        if { tr '\0' ' ' <"$proc/cmdline"; } 2>/dev/null | grep -qF -- "$dir/"; then
            echo "${proc#/proc/}"
        fi
    done
}

stop() {
    [ -d "$dir" ] || return 0
    local pid service=""
    [ -f "$dir/pid" ] && service=$(cat "$dir/pid")
    for pid in $(ours); do
        [ "$pid" = "$service" ] && continue
        # Test containers are disposable: SIGKILL, children first.
        for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
            kill -9 "$child" 2>/dev/null || true
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [ -n "$service" ] && kill "$service" 2>/dev/null; then
        for _ in $(seq 1 40); do
            kill -0 "$service" 2>/dev/null || break
            sleep 0.25
        done
        kill -9 "$service" 2>/dev/null || true
    fi
    if [ -f "$dir/made-var-lib-containers" ]; then
        rm -rf /var/lib/containers
    fi
    if [ -f "$dir/made-var-lib-cni" ]; then
        rm -rf /var/lib/cni
    fi
    rm -rf "$dir" 2>/dev/null || true
}

case "$action" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: podman.sh start|stop DIR" >&2; exit 2 ;;
esac
