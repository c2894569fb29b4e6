"""JupyterLab's contents manager for ``labkit lab``: a lesson opens with nothing to save.

On opening a notebook, JupyterLab writes into it the ``language_info`` its kernel reports,
Python's version included. Equal values leave the notebook clean; a lesson saved on a machine
with another Python would open with the unsaved-changes dot, and closing it would ask to save.
So this manager hands JupyterLab each notebook with the version of the Python it serves with,
which is the one its ``python3`` kernel runs (jupyter_client starts that kernel with the
server's own interpreter). The file on disk is not touched.
"""

from __future__ import annotations

import platform
from typing import Any

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager


class LessonContentsManager(AsyncLargeFileManager):
    """jupyter_server's default manager, which gives notebooks this Python's version."""

    async def get(self, path: str, content: bool = True, **kwargs: Any) -> dict[str, Any]:
        model = await super().get(path, content=content, **kwargs)
        if content and model.get("type") == "notebook" and model.get("content"):
            info = model["content"].get("metadata", {}).get("language_info")
            if isinstance(info, dict) and info.get("name") == "python":
                info["version"] = platform.python_version()
        return model


SETTING = f"--ServerApp.contents_manager_class={__name__}.{LessonContentsManager.__name__}"
