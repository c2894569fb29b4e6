"""A container's HostConfig and Config extras: kept as the client sent them, shown as dockerd
shows them, and refused where dockerd refuses them (with its words).

What is stored is exactly what the client sent (for the fields the Engine API knows); what
inspect shows is Go's zero value for every field the client left out, with the few defaults
dockerd fills in itself (the log driver, the shm size, the masked paths...).
"""

from __future__ import annotations

from typing import Any

from labkit.engine.model.errors import BadRequest
from labkit.engine.model.validate import HEALTHCHECK, HOST_CONFIG, strslice
from labkit.engine.model.versions import older_than

# What dockerd masks and makes read-only in a container that is not privileged.
DEFAULT_MASKED_PATHS = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
]
DEFAULT_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
DEFAULT_SHM_SIZE = 64 << 20
# The log drivers dockerd has built in; the options json-file and local accept.
LOG_DRIVERS = frozenset(
    {"json-file", "local", "none", "syslog", "journald", "gelf", "fluentd", "awslogs",
     "splunk", "etwlogs", "gcplogs", "logentries"}
)  # fmt: skip
_LOG_COMMON = {"max-size", "max-file", "compress"}
LOG_OPTS = {
    "json-file": _LOG_COMMON | {"labels", "labels-regex", "env", "env-regex", "tag"},
    "local": _LOG_COMMON,
}
RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")
# Fields Go leaves out of the JSON when they are empty (``json:",omitempty"``).
_OMIT_EMPTY = frozenset({"Annotations", "StorageOpt", "Tmpfs", "Sysctls", "Mounts", "Init"})
_POINTERS = frozenset({"MemorySwappiness", "PidsLimit"})  # Go pointers: null when not set
_ZERO = {"str": "", "bool": False, "int": 0, "goint": 0, "uint16": 0, "uint64": 0}
_REMOVED_IN_1_42 = ("KernelMemory", "KernelMemoryTCP")


def keep(host_in: dict[str, Any]) -> dict[str, Any]:
    """The HostConfig fields the client sent, as sent (CapAdd/CapDrop as lists)."""
    out = {key: host_in[key] for key in HOST_CONFIG if key in host_in}
    for key in ("CapAdd", "CapDrop"):
        if isinstance(out.get(key), str):
            out[key] = strslice(out[key])
    if "RestartPolicy" in out:
        out["RestartPolicy"] = restart_policy(out)
    if not out.get("Links"):
        out.pop("Links", None)  # dockerd keeps links apart: none shows as null
    adapt(out)
    return out


def restart_policy(host: dict[str, Any]) -> dict[str, Any]:
    """``{"Name", "MaximumRetryCount"}``; an empty name is ``no``, as dockerd 25+ stores it."""
    policy = host.get("RestartPolicy") or {}
    return {
        "Name": policy.get("Name") or "no",
        "MaximumRetryCount": policy.get("MaximumRetryCount") or 0,
    }


def policy_restarts(
    host: dict[str, Any], exit_code: int, manually_stopped: bool, restart_count: int
) -> bool:
    """Whether the restart policy starts a container that ended so (moby's restart manager):
    ``always`` yes, ``unless-stopped`` unless the user stopped it, ``on-failure`` after a
    non-zero exit within its count. A stop by the user while the engine runs cancels the
    policy altogether; the caller says so by passing ``manually_stopped`` only where it counts."""
    policy = restart_policy(host)
    name, most = policy["Name"], policy["MaximumRetryCount"]
    if name == "always":
        return True
    if name == "unless-stopped":
        return not manually_stopped
    if name == "on-failure":
        return exit_code != 0 and (not most or restart_count < most)
    return False


def view(stored: dict[str, Any], api_version: str | None, started: bool) -> dict[str, Any]:
    """``HostConfig`` in inspect: every field, Go's zero value where the client sent none."""
    out: dict[str, Any] = {}
    for key, kind in HOST_CONFIG.items():
        value = stored.get(key)
        if key in _OMIT_EMPTY:
            if value:
                out[key] = value
            continue
        if value is None and key not in _POINTERS:
            value = [0, 0] if kind == "uintpair" else _ZERO.get(kind)
        out[key] = value
    log = dict(stored.get("LogConfig") or {})
    out["LogConfig"] = {"Type": log.get("Type") or "json-file", "Config": log.get("Config") or {}}
    out["NetworkMode"] = out["NetworkMode"] or "default"
    out["RestartPolicy"] = restart_policy(stored)
    out["IpcMode"] = out["IpcMode"] or "private"
    out["CgroupnsMode"] = out["CgroupnsMode"] or "private"
    out["ShmSize"] = out["ShmSize"] or DEFAULT_SHM_SIZE
    if not out["Privileged"]:
        if stored.get("MaskedPaths") is None:
            out["MaskedPaths"] = list(DEFAULT_MASKED_PATHS)
        if stored.get("ReadonlyPaths") is None:
            out["ReadonlyPaths"] = list(DEFAULT_READONLY_PATHS)
    if out["Runtime"] == "":
        if started:
            out["Runtime"] = "runc"  # dockerd fills it in at the first start
        else:
            del out["Runtime"]
    if not older_than(api_version, "1.42"):
        for key in _REMOVED_IN_1_42:
            del out[key]
    return out


def healthcheck(body: Any, image: Any) -> dict[str, Any] | None:
    """Config.Healthcheck as dockerd keeps it: the client's, else the image's; zero
    durations and retries left out (``omitempty``); None when there is none."""
    source = body if body is not None else image
    if not source:
        return None
    out: dict[str, Any] = {}
    for key in HEALTHCHECK:
        value = source.get(key)
        if value:
            out[key] = list(value) if key == "Test" else value
    return out or None


def check_healthcheck(health: dict[str, Any] | None) -> None:
    """dockerd's limits on a healthcheck's numbers."""
    if not health:
        return
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        value = health.get(key) or 0
        if value != 0 and value < 1_000_000:
            raise BadRequest(f"{key} in Healthcheck cannot be less than 1ms")
    if (health.get("Retries") or 0) < 0:
        raise BadRequest("Retries in Healthcheck cannot be negative")


def check(host: dict[str, Any], config: dict[str, Any], endpoints: list[str]) -> list[str]:
    """dockerd's refusals of a HostConfig (400s, in its words); the warnings it gives."""
    policy = host.get("RestartPolicy") or {}
    check_restart_policy(policy)
    check_swap(host, update=False)
    if host.get("AutoRemove") and restart_policy(host)["Name"] != "no":
        raise BadRequest("can't create 'AutoRemove' container with restart policy")
    log = host.get("LogConfig") or {}
    driver = log.get("Type") or "json-file"
    if driver not in LOG_DRIVERS:
        raise BadRequest(f'error looking up logging plugin {driver}: plugin "{driver}" not found')
    allowed = LOG_OPTS.get(driver)
    if allowed is not None:
        for opt in log.get("Config") or {}:
            if opt not in allowed:
                where = "json-file log driver" if driver == "json-file" else f"log driver {driver}"
                raise BadRequest(f"unknown log opt '{opt}' for {where}")
    mode = host.get("NetworkMode") or ""
    if mode == "host" and host.get("Links"):
        raise BadRequest(
            "conflicting options: host type networking can't be used with links. This would "
            "result in undefined behavior"
        )
    if (mode == "host" or mode.startswith("container:")) and config.get("MacAddress"):
        raise BadRequest("conflicting options: mac-address and the network mode")
    if len(endpoints) > 1:
        raise BadRequest(
            f"Container cannot be connected to network endpoints: {', '.join(sorted(endpoints))}"
        )
    warnings = []
    if mode == "host" and host.get("PortBindings"):
        warnings.append("Published ports are discarded when using host network mode")
    return warnings


def check_restart_policy(policy: dict[str, Any]) -> None:
    """moby's ValidateRestartPolicy, with its words."""
    name = policy.get("Name") or ""
    count = policy.get("MaximumRetryCount") or 0
    if name in ("always", "unless-stopped", "no"):
        if count != 0:
            msg = "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            raise BadRequest(msg + (" and cannot be negative" if count < 0 else ""))
    elif name == "on-failure":
        if count < 0:
            raise BadRequest("invalid restart policy: maximum retry count cannot be negative")
    elif name:
        raise BadRequest(
            f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
            "'on-failure', or 'unless-stopped'"
        )


def adapt(host: dict[str, Any]) -> None:
    """What dockerd sets at create: swap twice the memory when only memory is limited."""
    memory = host.get("Memory") or 0
    if memory > 0 and not host.get("MemorySwap"):
        host["MemorySwap"] = memory * 2


def check_swap(resources: dict[str, Any], update: bool) -> None:
    """dockerd's checks of memory against swap (verifyPlatformContainerResources)."""
    memory = resources.get("Memory") or 0
    swap = resources.get("MemorySwap") or 0
    if memory > 0 and swap > 0 and swap < memory:
        raise BadRequest("Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and swap > 0 and not update:
        raise BadRequest(
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        )
    if (resources.get("NanoCpus") or 0) > 0 and (
        resources.get("CpuPeriod") or resources.get("CpuQuota")
    ):
        what = "CPU Period" if resources.get("CpuPeriod") else "CPU Quota"
        raise BadRequest(f"Conflicting options: Nano CPUs and {what} cannot both be set")


# Resources an update sets only when given as something other than zero (or null, for the
# lists and PidsLimit), in moby's UpdateContainer.
_UPDATE_NONZERO = (
    "BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "CpusetCpus",
    "CpusetMems", "Memory", "MemorySwap", "MemoryReservation", "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
)  # fmt: skip
_UPDATE_NOT_NULL = (
    "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps", "PidsLimit",
)  # fmt: skip


def update(host: dict[str, Any], body: dict[str, Any]) -> str | None:
    """Apply ``POST /containers/{id}/update`` to a stored HostConfig, as moby's
    UpdateContainer does; the conflict that stops it (dockerd's 409), else None."""
    new = body
    period, quota, nano = (host.get(k) or 0 for k in ("CpuPeriod", "CpuQuota", "NanoCpus"))
    if (new.get("NanoCpus") or 0) > 0 and period > 0:
        return "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"
    if (new.get("NanoCpus") or 0) > 0 and quota > 0:
        return "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set"
    if (new.get("CpuPeriod") or 0) > 0 and nano > 0:
        return "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"
    if (new.get("CpuQuota") or 0) > 0 and nano > 0:
        return "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
    memory = new.get("Memory") or 0
    if memory and memory > (host.get("MemorySwap") or 0) and not new.get("MemorySwap"):
        return (
            "Memory limit should be smaller than already set memoryswap limit, update the "
            "memoryswap at the same time"
        )
    policy = new.get("RestartPolicy") or {}
    if policy.get("Name") and host.get("AutoRemove") and restart_policy(new)["Name"] != "no":
        return "Restart policy cannot be updated because AutoRemove is enabled for the container"
    for key in _UPDATE_NONZERO:
        if new.get(key):
            host[key] = new[key]
    for key in _UPDATE_NOT_NULL:
        if new.get(key) is not None:
            host[key] = new[key]
    if policy.get("Name"):
        host["RestartPolicy"] = restart_policy(new)
    return None
