"""The lab's widgets and panels beside the plots: controls built from declarations, the status bar and chip
readouts, tables, the checkpoint and export panels, the focus control."""
