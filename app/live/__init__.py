"""Live delivery: how the engine's snapshots reach the browser, frame by frame (the "drain" of
ARCHITECTURE.md): ``delivery`` wires the periodic drain to a session, ``frame_pacer`` sends a new frame
only once the browser has applied the previous ones, ``snapshot_doorbell`` takes a snapshot in as soon
as the engine has sent it."""
