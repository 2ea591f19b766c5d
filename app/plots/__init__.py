"""The lab's plots: Bokeh figures built once and patched from snapshots (a part is sent only when its version
changed), and the layout helpers that let them fit a projector."""
