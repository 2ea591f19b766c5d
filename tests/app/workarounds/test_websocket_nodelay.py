"""Browser connections of the lab's server send each frame at once (``TCP_NODELAY``)."""
from __future__ import annotations

import asyncio
import socket
import threading

import pytest
from bokeh.application import Application
from bokeh.application.handlers.function import FunctionHandler
from bokeh.client import pull_session
from bokeh.models import Div
from bokeh.server.server import Server
from bokeh.server.views.ws import WSHandler
from tornado.ioloop import IOLoop

from app.workarounds.websocket_nodelay import send_websocket_frames_at_once


def _nodelay_of_open_connections(server: Server) -> list[int]:
    """``TCP_NODELAY`` of the server side of every open WebSocket connection."""
    return [conn._socket.ws_connection.stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            for conn in server._tornado._clients]


@pytest.fixture
def bokeh_server():
    """A Bokeh server with a one-Div app, its own IO loop in a thread; yields ``(server, url)``."""
    ready, holder = threading.Event(), {}

    def run():
        asyncio.set_event_loop(asyncio.new_event_loop())
        loop = IOLoop.current()
        app = Application(FunctionHandler(lambda doc: doc.add_root(Div(text="x"))))
        server = Server({"/app": app}, io_loop=loop, port=0, address="127.0.0.1",
                        allow_websocket_origin=["127.0.0.1"])
        server.start()
        holder["server"], holder["loop"] = server, loop
        ready.set()
        loop.start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(20)
    server, loop = holder["server"], holder["loop"]
    yield server, f"http://127.0.0.1:{server.port}/app"
    loop.add_callback(server.stop)
    loop.add_callback(loop.stop)
    thread.join(10)


@pytest.fixture
def restored_open():
    """Bokeh's own ``open`` during the test (the lab's entry point may have wrapped it already)."""
    installed = WSHandler.open
    WSHandler.open = getattr(installed, "__wrapped__", installed)
    yield
    WSHandler.open = installed


def connect_and_read_nodelay(server: Server, url: str) -> tuple[int, list[int]]:
    """Open a client session (in a thread: the test process may already run an event loop) and read
    ``(number of roots the client received, TCP_NODELAY of the server's connections)``."""
    result = {}

    def client():
        with pull_session(url=url) as session:
            result["roots"] = len(session.document.roots)
            result["nodelay"] = _nodelay_of_open_connections(server)
    thread = threading.Thread(target=client)
    thread.start()
    thread.join(30)
    return result["roots"], result["nodelay"]


def test_connections_are_opened_with_nagle_off(bokeh_server, restored_open):
    server, url = bokeh_server
    send_websocket_frames_at_once()
    send_websocket_frames_at_once()      # twice: still one wrapper
    roots, nodelay = connect_and_read_nodelay(server, url)
    assert roots == 1                    # the app's document reached the client over the socket
    assert nodelay == [1]


def test_without_it_tornado_leaves_nagle_on(bokeh_server, restored_open):
    """The reason for the setting: Bokeh and Tornado do not turn Nagle's algorithm off themselves."""
    server, url = bokeh_server
    roots, nodelay = connect_and_read_nodelay(server, url)
    assert roots == 1
    assert nodelay == [0]


def test_installing_twice_wraps_once(restored_open):
    send_websocket_frames_at_once()
    wrapped = WSHandler.open
    send_websocket_frames_at_once()
    assert WSHandler.open is wrapped
