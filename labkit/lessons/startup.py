"""Run at the start of a lesson's kernel (``PYTHONSTARTUP``, set by ``labkit lab``).

It installs labkit's kind words for undefined names (see ``labkit.lessons.hints``),
so that a learner who runs a later cell first after a kernel restart reads what to
do rather than a bare NameError; then it runs the learner's own PYTHONSTARTUP file,
if they had one.
"""

import os as _os

try:
    from labkit.lessons import hints as _hints

    _hints.install()
except Exception:  # never stop a kernel from starting
    pass

_own = _os.environ.get("LABKIT_USER_PYTHONSTARTUP")
if _own and _os.path.isfile(_own):
    with open(_own) as _file:
        exec(compile(_file.read(), _own, "exec"))
