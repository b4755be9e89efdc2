"""`porchlight serve --workers N` (N > 1): N worker processes, each a uvicorn server on its own listening socket.

uvicorn's own `--workers` shares one listening socket among its workers. Every worker's event loop is woken for a
new connection, and whichever runs first accepts all that are waiting; a keep-alive connection then stays with
that worker for as long as it is open. Connections that arrive together (phones after a deploy, a proxy's pool)
can all land on one worker while the other idles: 181 and 19 of 200 owners' connections, p99 3.4 s (issue 17).

Here each worker has its own socket bound to the same address with SO_REUSEPORT, and the kernel hands each new
connection to one of the sockets by a hash of its addresses and ports: the workers get even shares whatever they
are doing (Linux's SO_REUSEPORT; elsewhere `porchlight serve` keeps uvicorn's workers). The sockets are made, and
stay open, in this supervising process, so connections arriving while a worker starts or restarts wait in its
socket's queue rather than being refused.

A worker that dies is started again on the same socket, as uvicorn's supervisor did. A worker that fails before
serving (the app cannot start: settings, database, import) stops everything with exit code 3 (uvicorn's
STARTUP_FAILURE), since a new one would fail the same way. SIGINT or SIGTERM (Ctrl+C of `make run`) stops the
workers gracefully (SIGTERM to each, then wait for their open requests); a second one kills them.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
from multiprocessing.context import SpawnProcess
from typing import Any

import uvicorn

APP = "backend.app:create_app_from_env"
STARTUP_FAILURE = 3  # uvicorn's exit code for a server that never started (uvicorn.config.STARTUP_FAILURE)
BACKLOG = 2048  # uvicorn's default

logger = logging.getLogger("uvicorn.error")
spawn = multiprocessing.get_context("spawn")


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets listening on (host, port) with SO_REUSEPORT. Refuses (OSError, EADDRINUSE) an address that
    something already listens on, even another SO_REUSEPORT group of the same user, which would otherwise be joined
    and take a share of the connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:  # without SO_REUSEPORT: fails on any listener
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]  # port 0: one free port for all the sockets
    sockets = []
    for _ in range(count):
        sock = socket.socket(family)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sockets.append(sock)
    return sockets


def run_worker(config: uvicorn.Config, sock: socket.socket) -> None:
    """A worker process: one uvicorn server on its socket until SIGINT/SIGTERM."""
    config.configure_logging()  # a spawned process starts without the parent's logging
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except (KeyboardInterrupt, SystemExit):  # Ctrl+C before uvicorn handles it; uvicorn's exit (it said why)
        pass
    except Exception:
        logger.exception("Worker [%d] stopped on an error", os.getpid())
        sys.exit(1 if server.started else STARTUP_FAILURE)
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _start(config: uvicorn.Config, sock: socket.socket) -> SpawnProcess:
    process = spawn.Process(target=run_worker, args=(config, sock), name="porchlight-worker")
    process.start()
    return process


def serve_workers(host: str, port: int, workers: int, **options: Any) -> int:
    """Run `workers` worker processes until SIGINT/SIGTERM. Returns the exit code: 0, or 3 (uvicorn's
    STARTUP_FAILURE) if the address is taken or a worker could not start.
    `options` are uvicorn.Config's (proxy_headers, log_level...)."""
    config = uvicorn.Config(APP, factory=True, host=host, port=port, **options)  # this process's logging too
    try:
        sockets = listening_sockets(host, port, workers)
    except OSError as exc:
        logger.error("Cannot listen on %s:%d: %s", host, port, exc)
        return STARTUP_FAILURE
    received: list[int] = []  # SIGINT/SIGTERM, as they come

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    processes = [_start(config, sock) for sock in sockets]
    logger.info("Started %d workers [%s], one socket each", workers, ", ".join(str(p.pid) for p in processes))
    exit_code = 0
    try:
        while not received:
            multiprocessing.connection.wait([p.sentinel for p in processes], timeout=0.5)
            for n, process in enumerate(processes):
                if process.exitcode is None or received:
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    logger.error("Worker [%d] failed to start; stopping.", process.pid)
                    exit_code = STARTUP_FAILURE
                    received.append(signal.SIGTERM)
                    break
                processes[n] = _start(config, sockets[n])
                logger.warning(
                    "Worker [%d] exited (code %s); started worker [%d] on its socket.",
                    process.pid, process.exitcode, processes[n].pid,
                )  # fmt: skip
        logger.info("Stopping the workers.")
        for process in processes:
            if process.exitcode is None:
                process.terminate()  # SIGTERM: uvicorn finishes the open requests, then exits
        for process in processes:
            while process.exitcode is None:
                process.join(timeout=0.5)
                if len(received) > 1:  # a second Ctrl+C or SIGTERM: do not wait any longer
                    process.kill()
    finally:
        for process in processes:
            if process.exitcode is None:
                process.kill()
                process.join()
        for sock in sockets:
            sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_code
