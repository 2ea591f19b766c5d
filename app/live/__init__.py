"""Live delivery: how the engine's snapshots reach the browser, frame by frame.

This is the "drain" of the data loop (ARCHITECTURE.md): the lab's own design, not a workaround of
Panel or Bokeh, so it has a folder apart from both the plots and widgets (``app/plots``, ``app/widgets``,
which draw a snapshot once it is here) and the patches of upstream behaviour (``app/workarounds``).

- ``delivery``: the periodic drain and its wiring to one browser session (``deliver_live``).
- ``frame_pacer``: a new frame only once the browser has applied the previous ones.
- ``snapshot_doorbell``: a snapshot taken in as soon as the engine has sent it.
"""
