#!/usr/bin/env python3
"""A minimal function instance: answers every request with a greeting.

It listens on 127.0.0.1:$PORT (default 9000) and speaks HTTP/1.1 with keep-alive:

    GET /healthz    200 "ok\\n" (text/plain): the readiness check tidegate polls
    GET <path>      200 JSON: {"message": "$GREETING from a function", "path": <path>,
                    "forwarded_for": <X-Forwarded-For or null>,
                    "request_id": <X-Request-Id or null>}
    POST <path>     200, echoing the body (Content-Length or chunked) and its content-type
    HEAD <path>     as GET, without the body
    anything else   405

GREETING (default "hello") sets the word it greets with. Each connection gets a thread.

Why not http.server? Start time. tidegate starts instances on demand, so the time from
spawn to the first answer is latency that a request waits through. A bare
`python3 -S -c pass` takes about 10 ms; `import http.server` adds about 45 ms, and even
`socket`, `threading`, `json` and `os` together add about 17 ms, mostly for what they
import in turn (enum, re, collections; see `python3 -S -X importtime hello.py`). So this
file speaks the little HTTP it needs itself, and imports only the C modules that those
wrap, which load in well under a millisecond:

    _socket  the socket type behind `socket`
    _thread  the thread start behind `threading`
    _json    the string encoder behind `json.dumps`
    posix    the environment behind `os.environ` (as bytes)

Everything else used here (sys, time) is loaded by the interpreter before this file runs.
"""

import _json
import _socket
import _thread
import time
from posix import environ

GREETING = environ.get(b"GREETING", b"hello").decode(errors="surrogateescape")

MAX_LINE = 65536  # longest request line, header line or chunk-size line
MAX_HEADERS = 100  # most header (or trailer) lines in one request
REASONS = {200: "OK", 400: "Bad Request", 405: "Method Not Allowed"}


class BadRequest(Exception):
    """The request cannot be parsed: it is answered with 400 and the connection closed."""


class Connection:
    """A client socket with a read buffer. EOFError means the client closed it."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = bytearray()  # bytearray: appending and trimming the front are cheap

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buffer += chunk

    def readline(self):
        """Reads one line and returns it without its CRLF (or bare LF)."""
        while (end := self.buffer.find(b"\n")) < 0:
            if len(self.buffer) > MAX_LINE:
                raise BadRequest("line too long")
            self._fill()
        if end > MAX_LINE:
            raise BadRequest("line too long")
        line = bytes(self.buffer[:end])
        del self.buffer[:end + 1]
        return line[:-1] if line.endswith(b"\r") else line

    def read(self, size):
        """Reads exactly `size` bytes."""
        while len(self.buffer) < size:
            self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data


def read_request(conn):
    """Reads one request: returns (method, path, version, headers, body).

    Header names are lowercased; repeated headers are joined with ", ".
    """
    line = conn.readline()
    while not line:  # blank lines between requests are allowed (RFC 9112, 2.2)
        line = conn.readline()
    words = line.decode("latin-1").split()
    if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest("request line is not METHOD TARGET HTTP/1.x")
    method, path, version = words
    # Like http.server: a path starting with // is reduced to one /, so that it cannot
    # be taken for a //host/path reference.
    if path.startswith("//"):
        path = "/" + path.lstrip("/")

    headers = read_fields(conn)
    if version == "HTTP/1.1" and headers.get("expect", "").lower() == "100-continue":
        conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # the client waits for this
    return method, path, version, headers, read_body(conn, headers)


def read_fields(conn):
    """Reads header lines up to the blank line that ends them; returns them as a dict."""
    fields = {}
    for _ in range(MAX_HEADERS + 1):
        line = conn.readline()
        if not line:
            return fields
        name, colon, value = line.decode("latin-1").partition(":")
        # No whitespace around the name: a leading one is an obsolete line folding,
        # a trailing one ("Name : value") is forbidden (RFC 9112, 5.1).
        if not colon or not name or name != name.strip():
            raise BadRequest("malformed header line")
        value = value.strip(" \t")
        if "\r" in value or "\0" in value:
            raise BadRequest("control character in a header value")
        name = name.lower()
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    raise BadRequest("too many header lines")


def read_body(conn, headers):
    """Reads the body that the headers announce (none if they announce none)."""
    if "transfer-encoding" in headers:
        # Both framings at once is how requests get smuggled past proxies: refuse.
        if headers["transfer-encoding"].lower() != "chunked" or "content-length" in headers:
            raise BadRequest("only Transfer-Encoding: chunked, and without Content-Length")
        return read_chunked(conn)
    length = headers.get("content-length", "0")
    if not (length.isascii() and length.isdigit()):
        raise BadRequest("Content-Length is not a number")
    return conn.read(int(length))


def read_chunked(conn):
    """Reads a chunked body: hex-size lines, each followed by that many bytes and CRLF,
    up to a size 0; then optional trailer lines up to a blank line (ignored)."""
    chunks = []
    while True:
        size = conn.readline().partition(b";")[0].strip()  # drop chunk extensions
        if not size or size.strip(b"0123456789abcdefABCDEF"):  # anything but hex digits
            raise BadRequest("malformed chunk size")
        size = int(size, 16)
        if size == 0:
            break
        chunks.append(conn.read(size))
        if conn.readline():
            raise BadRequest("chunk data longer than its size")
    read_fields(conn)
    return b"".join(chunks)


def answer(method, path, headers, body):
    """Decides the answer to one request: returns (status, content type, body)."""
    if method in ("GET", "HEAD"):
        if path == "/healthz":
            return 200, "text/plain", b"ok\n"
        return 200, "application/json", greeting(path, headers)
    if method == "POST":
        return 200, headers.get("content-type") or "application/octet-stream", body
    return 405, "text/plain", b"method not allowed\n"


def greeting(path, headers):
    """The JSON body of a GET, formatted as json.dumps formats it."""
    message = json_string(f"{GREETING} from a function")
    return (
        f'{{"message": {message}, "path": {json_string(path)}, '
        f'"forwarded_for": {json_string(headers.get("x-forwarded-for"))}, '
        f'"request_id": {json_string(headers.get("x-request-id"))}}}\n'
    ).encode()


def json_string(value):
    """A str as a JSON string (non-ASCII escaped, as json.dumps does), None as null."""
    return "null" if value is None else _json.encode_basestring_ascii(value)


def response(status, content_type, body, connection=None, with_body=True):
    """The bytes of a response; `connection` is the Connection header's value, if any."""
    lines = [
        f"HTTP/1.1 {status} {REASONS[status]}",
        "date: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()),
        f"content-type: {content_type}",
        f"content-length: {len(body)}",  # for HEAD too: the length a GET would get
    ]
    if status == 405:
        lines.append("allow: GET, HEAD, POST")
    if connection:
        lines.append(f"connection: {connection}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if with_body else head


def keeps_alive(version, headers):
    """Whether the connection stays open after this request's answer: HTTP/1.1 keeps it
    unless asked to close, HTTP/1.0 closes it unless asked to keep it."""
    options = {option.strip().lower() for option in headers.get("connection", "").split(",")}
    if "close" in options:
        return False
    return version == "HTTP/1.1" or "keep-alive" in options


def serve(sock):
    """Answers the requests on one connection, in order, until either side closes it."""
    conn = Connection(sock)
    try:
        while True:
            try:
                method, path, version, headers, body = read_request(conn)
            except BadRequest as error:
                sock.sendall(response(400, "text/plain", f"{error}\n".encode(), "close"))
                return
            keep_alive = keeps_alive(version, headers)
            if not keep_alive:
                connection = "close"
            elif version == "HTTP/1.0":
                connection = "keep-alive"  # an HTTP/1.0 client must be told it was kept
            else:
                connection = None
            status, content_type, content = answer(method, path, headers, body)
            sock.sendall(response(status, content_type, content, connection, method != "HEAD"))
            if not keep_alive:
                return
    except (EOFError, OSError):
        pass  # the client closed or reset the connection
    finally:
        sock.close()


def main():
    port = int(environ.get(b"PORT", b"9000"))
    listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    listener.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1024)
    while True:
        try:
            # What socket.accept() wraps: it returns the new connection's file descriptor.
            fd, _address = listener._accept()
        except OSError:
            time.sleep(0.01)  # e.g. out of file descriptors: wait a little, don't spin
            continue
        sock = _socket.socket(fileno=fd)
        # Answers go out in one send each; don't let Nagle hold back the tail of a large one.
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        try:
            # Such threads end with the process, like daemon threads of `threading`.
            _thread.start_new_thread(serve, (sock,))
        except RuntimeError:  # can't start a thread (out of memory or a limit)
            sock.close()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass  # Ctrl-C; SIGTERM keeps its default action and ends the process at once
