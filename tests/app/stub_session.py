"""A session that records what pages send and runs no job: for shell tests that only need the pages' params."""


class StubSession:
    def __init__(self):
        self.listeners = []
        self.sent = []

    def attach(self, job_id, kind, sink, config=None, knobs=None):
        self.sent.append(("open", job_id, config, knobs))

    def command(self, job_id, op, payload=None):
        self.sent.append((op, job_id, payload))

    def act(self, job_id, name, **arguments):
        self.sent.append((name, job_id, arguments))

    def set_knobs(self, job_id, **knobs):
        self.sent.append(("knobs", job_id, knobs))

    def show(self, job_ids):
        self.sent.append(("show", tuple(job_ids), None))

    def pin(self, job_id, pinned):
        self.sent.append(("pin", job_id, pinned))

    def drain(self):
        pass

    def stop(self, *_args):
        pass


class RecordingSink:
    """A page stand-in for ``LabSession.attach``: keeps every snapshot shown to it and every engine event."""

    def __init__(self):
        self.shown = []
        self.events = []

    def apply_snapshot(self, snapshot):
        self.shown.append(snapshot)

    def engine_event(self, message):
        self.events.append(message)
