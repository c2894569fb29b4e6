"""Small helpers the lesson notebooks import, one module per lesson.

They do the chores around a lesson (temporary folders, starting and stopping
helper processes) so that the notebook cells can stay about the idea being taught.
Whatever a lesson is about stays in the notebook, where the learner sees it.
"""

from __future__ import annotations
