"""JupyterHub for a Docker IPC Lab workshop: a Linux user per learner, each with a private engine.

    cd /srv/jupyterhub
    /opt/labkit-hub/venv/bin/jupyterhub -f /opt/labkit-hub/lab/docs/hub/jupyterhub_config.py

The model is The Littlest JupyterHub's: one machine, up to about 100 learners, a Linux account
each, and the lab installed once for everyone (docs/hub/install.sh puts it in /opt/labkit-hub).
No learner gets the host's docker.sock or any privilege: every learner's notebooks start their
own lab engine, as that learner, with its socket (mode 0600) in their own home.

docs/WORKSHOPS.md walks through it; the settings below are the ones a class needs, each with
the reason. Copy this file to change it (and keep the copy outside /opt/labkit-hub/lab, which
install.sh replaces). Environment variables, read when the hub starts:

    LABKIT_HUB_PREFIX    where install.sh put everything (default /opt/labkit-hub)
    LABKIT_HUB_PROGRESS  the progress drop folder the instructors read (default
                         /srv/labkit/progress; left out when it does not exist)
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821  (JupyterHub provides it when it reads this file)

PREFIX = Path(os.environ.get("LABKIT_HUB_PREFIX", "/opt/labkit-hub"))
PROGRESS = Path(os.environ.get("LABKIT_HUB_PROGRESS", "/srv/labkit/progress"))

# --- the hub ---------------------------------------------------------------------------------
# Listen on all addresses at port 8000; put TLS in front (nginx or caddy with Let's Encrypt)
# before the class, or set ssl_cert/ssl_key here.
c.JupyterHub.bind_url = "http://:8000"
c.ConfigurableHTTPProxy.command = [str(PREFIX / "proxy/node_modules/.bin/configurable-http-proxy")]
# At the start of a class everybody logs in within a minute; on 2 CPUs one server takes a few
# seconds of CPU to start (bench/README.md), so a hundred need minutes, not the default 60 s.
# start_timeout bounds starting the process; http_timeout bounds its answering after that,
# which is where a crowd waits: at 100 learners on 2 CPUs the median server answered after 4 min.
c.JupyterHub.concurrent_spawn_limit = 100
c.Spawner.start_timeout = 600
c.Spawner.http_timeout = 900

# --- who may log in ----------------------------------------------------------------------------
# PAM: learners log in with their Linux account's password (docs/WORKSHOPS.md shows how to make
# the accounts). Only members of these two groups may log in, not every account on the machine;
# members of "instructors" (who also read the class report) are the hub's admins.
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {"learners", "instructors"}
c.PAMAuthenticator.admin_groups = {"instructors"}

# --- each learner's server ---------------------------------------------------------------------
# LocalProcessSpawner runs each server as the learner's own Linux user. Where systemd runs,
# SystemdSpawner (pip install jupyterhub-systemdspawner) is the better choice: it puts each
# learner in a cgroup, so mem_limit and cpu_limit below are enforced instead of advisory.
c.JupyterHub.spawner_class = "localprocess"
# The start script brings the lab's lessons into the learner's workspace (~/docker-ipc-lab,
# never overwriting their changes), runs jupyterhub-singleuser, and stops the learner's lab
# engine when the server stops (by the learner, the admin or the idle culler).
c.Spawner.cmd = [str(PREFIX / "venv/bin/python"), str(PREFIX / "lab/docs/hub/labkit_singleuser.py")]
c.Spawner.notebook_dir = "~/docker-ipc-lab"
c.Spawner.default_url = "/lab/tree/lessons/00-start-here.ipynb"
c.Spawner.environment = {
    "PATH": f"{PREFIX / 'venv/bin'}:/usr/local/bin:/usr/bin:/bin",
    "LABKIT_ENGINE": "lab",  # a private lab engine, never the host's docker.sock
    "LABKIT_SOURCE": str(PREFIX / "lab"),  # where the workspace takes the lessons from
    "LABKIT_WORKSPACE": "~/docker-ipc-lab",
}
if PROGRESS.is_dir():  # each learner's lab drops a copy of their progress there for the report
    c.Spawner.environment["LABKIT_PROGRESS_EXPORT"] = str(PROGRESS)
# Measured per learner (JupyterLab server, a kernel that ran lesson 00, and the lab engine):
# about 250 MB (bench/README.md). Advisory with LocalProcessSpawner (exported to the server as
# MEM_LIMIT and CPU_LIMIT); enforced by SystemdSpawner and KubeSpawner.
c.Spawner.mem_guarantee = "256M"
c.Spawner.mem_limit = "1G"
c.Spawner.cpu_limit = 1.0
# A kernel left idle for 30 minutes is shut down inside the server (its variables go, the
# notebook file stays): a learner who wanders off gives memory back. A new kernel may take more
# than the default minute to answer while a whole class starts at once on a few CPUs.
# Kernels talk to their server over Unix sockets in the learner's private runtime folder (a
# short path that labkit_singleuser.py makes: a socket's path must fit in 107 bytes), not
# over loopback TCP ports: a hundred kernels starting at once picked the same free port (one
# kernel died of "Address already in use" at 100 learners, bench/README.md), and a loopback
# port is one every account on the machine can connect to.
c.Spawner.args = [
    "--MappingKernelManager.cull_idle_timeout=1800",
    "--MappingKernelManager.cull_interval=300",
    "--MappingKernelManager.kernel_info_timeout=300",
    "--KernelManager.transport=ipc",
]

# --- idle culling ------------------------------------------------------------------------------
# A server nobody used for an hour is stopped (and its lab engine with it); the learner's files
# stay, and logging in again starts it afresh.
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [
            str(PREFIX / "venv/bin/python"),
            "-m",
            "jupyterhub_idle_culler",
            "--timeout=3600",
        ],
    }
]
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
