"""What every labkit widget shares: a client of its own, and a text that reads well.

A widget is drawn by JupyterLab's widget manager. Everywhere else (a saved or untrusted
notebook, nbval, a terminal) only its ``text/plain`` is shown, and ipywidgets' own is
``VBox(children=(…`` cut at 110 characters. :class:`TextFallback` puts a sentence there
instead: what the widget is, and how to get the same thing without widgets. The sentence
must not change from run to run (nbval may compare it), so it holds no ids, times or paths.
"""

from __future__ import annotations

import html
from typing import Any

from labkit.client.http import Client
from labkit.lab import Lab

WIDGET_NOTE = "(an interactive widget: run this cell in JupyterLab to use it)"

# Colours that read on JupyterLab's light and dark themes alike.
STDOUT_STYLE = ""
STDERR_STYLE = "background-color:rgba(244,67,54,0.18)"
MUTED_STYLE = "opacity:0.7"
STATE_COLOURS = {
    "running": "rgba(76,175,80,0.30)",
    "created": "rgba(66,133,244,0.22)",
    "exited": "rgba(128,128,128,0.25)",
    "paused": "rgba(255,152,0,0.35)",
    "restarting": "rgba(255,152,0,0.35)",
    "removing": "rgba(244,67,54,0.22)",
    "dead": "rgba(244,67,54,0.30)",
}


class TextFallback:
    """Mixin for an ipywidgets container: ``text/plain`` says what the widget is.

    Subclasses implement :meth:`plain_text`; it goes first in the class bases, before
    the ipywidgets class.
    """

    def plain_text(self) -> str:  # pragma: no cover - every widget overrides it
        raise NotImplementedError

    def shutdown(self) -> None:
        """Stop threads and close sockets (each widget with background work overrides it)."""

    def ready(self) -> None:
        """Say ``__init__`` is done, so that :meth:`close` has something to shut down."""
        self.__dict__["_labkit_ready"] = True

    def close(self) -> None:
        """Shut down, then close the widget (ipywidgets calls this when it is deleted too,
        even for one whose ``__init__`` failed half-way)."""
        if self.__dict__.pop("_labkit_ready", False):
            self.shutdown()
        super().close()  # type: ignore[misc]

    def __repr__(self) -> str:
        return self.plain_text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.plain_text())

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        if bundle is None:  # a closed widget: nothing to draw
            return {"text/plain": self.plain_text()}
        bundle["text/plain"] = self.plain_text()  # not cut at 110 characters
        return bundle


def client_for(source: Lab | Client | str | None) -> Client:
    """A client of the widget's own (its own connection) for ``source``.

    ``source`` is what a notebook has at hand: the :class:`~labkit.lab.Lab` from
    ``labkit.connect()``, a :class:`Client`, a ``unix://`` URL, or None for
    ``labkit.connect()``. The API version is the one already negotiated, if any.
    """
    if source is None:
        from labkit.lab import connect

        source = connect()
    if isinstance(source, Lab):
        return Client(source.endpoint, api_version=source.api_version)
    if isinstance(source, Client):
        return Client(source.endpoint, api_version=source.api_version, timeout=source.timeout)
    if isinstance(source, str):
        return Client(source)
    raise TypeError(
        f"a widget needs the lab (labkit.connect()), a Client or a unix:// URL, "
        f"not {type(source).__name__}"
    )


def button(
    description: str = "", icon: str = "", tooltip: str = "", css: str = "", **traits: Any
) -> Any:
    """An ipywidgets Button as wide as its words (the default width cuts them off)."""
    import ipywidgets as widgets

    made = widgets.Button(
        description=description,
        icon=icon,
        tooltip=tooltip,
        layout=widgets.Layout(width="auto", flex="0 0 auto"),
        **traits,
    )
    if css:
        made.add_class(css)
    return made


def pre(text: str, style: str = "") -> str:
    """Text in a ``<pre>`` that wraps instead of running off the right edge."""
    extra = f";{style}" if style else ""
    return (
        f'<pre style="white-space:pre-wrap;word-break:break-all;margin:2px 0{extra}">'
        f"{html.escape(text)}</pre>"
    )


def note(text: str) -> str:
    """A small grey line of HTML."""
    return f'<small style="{MUTED_STYLE}">{html.escape(text)}</small>'


def state_chip(state: str) -> str:
    """A container state as a coloured label: ``running`` green, ``exited`` grey…"""
    colour = STATE_COLOURS.get(state, "rgba(128,128,128,0.2)")
    return (
        f'<span class="labkit-state" data-state="{html.escape(state)}" '
        f'style="background-color:{colour};border-radius:3px;padding:0 4px">'
        f"{html.escape(state)}</span>"
    )
