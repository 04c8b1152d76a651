"""`kubectl exec` and `kubectl attach`: a command's stdio between the client's streams and Docker.

Whatever the transport (SPDY streams or WebSocket channels), a session has the same parts: stdin (bytes from the
client), stdout and stderr (bytes to it; one stream when there is a TTY), resize (JSON `{"Width": w, "Height": h}`
messages while a TTY is open) and error, on which the kubelet writes, as the session ends, how the command ended:
a `Status` of Success, or of Failure with reason `NonZeroExitCode` and the exit code as a cause (kubectl turns it
into its own exit code).

Upstream: `pkg/kubelet/cri/streaming/remotecommand/{options.go,exec.go,attach.go,httpstream.go}` and
`staging/src/k8s.io/apimachinery/pkg/util/remotecommand/constants.go`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from kubeling.kubelet.runtime import Runtime, StreamError, StreamSocket

log = logging.getLogger(__name__)

# Protocol versions, newest first; what each adds is in constants.go.
V5 = "v5.channel.k8s.io"  # WebSocket only: the close-channel message
V4 = "v4.channel.k8s.io"  # the error stream carries a JSON Status with the exit code
V3 = "v3.channel.k8s.io"  # resize
V2 = "v2.channel.k8s.io"
V1 = "channel.k8s.io"
SPDY_PROTOCOLS = [V4, V3, V2, V1]
WEBSOCKET_PROTOCOLS = [V5, V4, V3, V2, V1]

STDIN, STDOUT, STDERR, ERROR, RESIZE = range(5)  # the WebSocket channel numbers
STREAM_TYPES = {"stdin": STDIN, "stdout": STDOUT, "stderr": STDERR, "error": ERROR, "resize": RESIZE}


class Reader(Protocol):
    def read(self, max_bytes: int = 65536, timeout: float | None = None) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class OptionsError(ValueError):
    """The request asks for an impossible session (answered 400)."""


@dataclasses.dataclass(frozen=True)
class Options:
    """What the client asked for: upstream reads `input`/`output`/`error`/`tty` (the API server's names for
    kubectl's `stdin`/`stdout`/`stderr`/`tty`) and `command` from the query."""

    command: list[str]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def from_query(cls, query: dict[str, list[str]], *, exec_: bool) -> Options:
        def flag(*names: str) -> bool:
            return any((query.get(n) or ["false"])[0].lower() in ("true", "1") for n in names)

        tty = flag("tty")
        options = cls(command=list(query.get("command") or []), stdin=flag("input", "stdin"),
                      stdout=flag("output", "stdout"), stderr=flag("error", "stderr") and not tty, tty=tty)
        if not (options.stdin or options.stdout or options.stderr):
            raise OptionsError("you must specify at least 1 of stdin, stdout, stderr")
        if exec_ and not options.command:
            raise OptionsError("you must specify at least one command for the container")
        return options


@dataclasses.dataclass
class Streams:
    """The client's side of a session, whatever carries it. `gone` is set when the whole connection ended."""

    error: Writer
    gone: threading.Event
    protocol: str
    stdin: Reader | None = None
    stdout: Writer | None = None
    stderr: Writer | None = None
    resize: Reader | None = None
    on_end: Callable[[], None] = lambda: None  # closes the transport


def success() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def nonzero_exit(command: list[str], code: int) -> dict[str, Any]:
    """The Status upstream's kubelet writes for a command that exited with `code` (kubectl exits with it)."""
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command [{' '.join(command)}], "
                       f"exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def internal_error(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
            "reason": "InternalError", "details": {"causes": [{"message": message}]}, "code": 500}


def write_status(streams: Streams, status: dict[str, Any]) -> None:
    """v4 and v5 write the Status as JSON; older protocols write only a failure's message, as text."""
    if streams.protocol in (V4, V5):
        data = json.dumps(status, separators=(",", ":")).encode()
    elif status["status"] == "Success":
        return
    else:
        data = status.get("message", "").encode()
    with contextlib.suppress(OSError):
        streams.error.write(data)


def run_exec(runtime: Runtime, container_id: str, options: Options, streams: Streams) -> None:
    """Run `options.command` in the container, its stdio joined to the client's streams, until it ends or the
    client goes away; then report how it ended on the error stream."""
    try:
        exec_id, engine = runtime.exec_stream(container_id, options.command, stdin=options.stdin,
                                              stdout=options.stdout, stderr=options.stderr, tty=options.tty)
    except StreamError as exc:
        write_status(streams, internal_error(f"error executing command in container: {exc}"))
        streams.on_end()
        return
    pumps = _start_pumps(engine, options, streams,
                         lambda w, h: runtime.resize_tty(container_id, exec_id, w, h))
    finished = _wait(engine, options, streams, pumps)
    if not finished:  # the client went away: nobody will read the result, and nothing may stay behind
        runtime.exec_kill(exec_id)
        engine.close()
        streams.on_end()
        return
    code = runtime.exec_result(exec_id)
    engine.close()
    if code is None:
        runtime.exec_kill(exec_id)
        write_status(streams, internal_error("the command's output ended but it is still running"))
    else:
        write_status(streams, success() if code == 0 else nonzero_exit(options.command, code))
    streams.on_end()


def run_attach(runtime: Runtime, container_id: str, options: Options, streams: Streams) -> None:
    """Join the client's streams to the container's own stdio until the container's output ends (it exited) or
    the client detaches. The container's process keeps running when the client detaches."""
    try:
        tty = runtime.has_tty(container_id)
        engine = runtime.attach_stream(container_id, stdin=options.stdin, stdout=options.stdout,
                                       stderr=options.stderr)
    except StreamError as exc:
        write_status(streams, internal_error(f"error attaching to container: {exc}"))
        streams.on_end()
        return
    options = dataclasses.replace(options, tty=tty)
    pumps = _start_pumps(engine, options, streams, lambda w, h: runtime.resize_tty(container_id, None, w, h))
    finished = _wait(engine, options, streams, pumps)
    engine.close()
    if finished:
        write_status(streams, success())
    streams.on_end()


def _start_pumps(engine: StreamSocket, options: Options, streams: Streams,
                 resize: Callable[[int, int], None]) -> list[threading.Thread]:
    threads = [threading.Thread(target=_copy_output, args=(engine, options, streams), name="exec-output",
                                daemon=True)]
    if options.stdin and streams.stdin is not None:
        threads.append(threading.Thread(target=_copy_input, args=(streams.stdin, engine), name="exec-input",
                                        daemon=True))
    if options.tty and streams.resize is not None:
        threads.append(threading.Thread(target=_copy_resizes, args=(streams.resize, resize), name="exec-resize",
                                        daemon=True))
    for thread in threads:
        thread.start()
    return threads


def _wait(engine: StreamSocket, options: Options, streams: Streams, pumps: list[threading.Thread]) -> bool:
    """Wait for the output to end (True) or the client to go away first (False)."""
    output = pumps[0]
    while output.is_alive():
        output.join(0.2)
        if streams.gone.is_set() and output.is_alive():
            return False
    return True


def _copy_output(engine: StreamSocket, options: Options, streams: Streams) -> None:
    """Docker → client. With a TTY the bytes are the terminal's; without, Docker's frames say stdout or stderr."""
    try:
        if options.tty:
            while data := engine.recv():
                if streams.stdout is not None:
                    streams.stdout.write(data)
            return
        while (frame := engine.read_frame()) is not None:
            kind, payload = frame
            target = streams.stderr if kind == 2 else streams.stdout
            if target is not None and payload:
                target.write(payload)
    except OSError as exc:
        log.debug("exec output: %s", exc)
    finally:
        for writer in (streams.stdout, streams.stderr):
            if writer is not None:
                with contextlib.suppress(OSError):
                    writer.close()


def _copy_input(stdin: Reader, engine: StreamSocket) -> None:
    """Client → Docker; the end of the client's stdin closes the process's stdin."""
    try:
        while data := stdin.read():
            engine.sendall(data)
    except OSError as exc:
        log.debug("exec input: %s", exc)
    finally:
        engine.close_stdin()


def _copy_resizes(source: Reader, resize: Callable[[int, int], None]) -> None:
    """Each resize is a JSON object; on SPDY they arrive back to back on one stream, so decode incrementally."""
    decoder, pending = json.JSONDecoder(), ""
    try:
        while data := source.read():
            pending += data.decode(errors="replace")
            while pending.strip():
                try:
                    size, end = decoder.raw_decode(pending.lstrip())
                except ValueError:
                    break  # an incomplete object: wait for the rest
                pending = pending.lstrip()[end:]
                if isinstance(size, dict) and size.get("Width") and size.get("Height"):
                    resize(int(size["Width"]), int(size["Height"]))
    except OSError as exc:
        log.debug("exec resize: %s", exc)
