"""A small HTTP/1.1 server for the transport tests, on a free loopback port and a Unix socket.

Prints {"port": N, "socket": PATH} when ready; stops when stdin closes or after 120 s.
  /echo            the request as JSON: method, path, headers, body
  /status/N        answers with status N
  /slow?ms=N       waits N ms (at most 60 s), then 200
  /big?bytes=N     a body of N bytes
Every response carries "X-Connection-Requests": how many requests this connection has served.
"""
import json
import os
import socketserver
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    served = 0

    def log_message(self, *args):
        pass

    def _answer(self, status, body, headers=()):
        self.served += 1
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Connection-Requests", str(self.served))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        if url.path == "/echo":
            echo = {
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body": body.decode("utf-8", "replace"),
            }
            self._answer(200, json.dumps(echo).encode(), [("Content-Type", "application/json")])
        elif url.path.startswith("/status/"):
            self._answer(int(url.path.split("/")[2]), b'{"status":"as asked"}')
        elif url.path == "/slow":
            time.sleep(min(int(query.get("ms", ["1000"])[0]), 60000) / 1000)
            self._answer(200, b"slow")
        elif url.path == "/big":
            self._answer(200, b"x" * int(query.get("bytes", ["1"])[0]))
        else:
            self._answer(404, b"no such path")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _ = super().get_request()
        return request, ("unix", 0)


def main():
    tcp = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tcp.daemon_threads = True
    socket_path = os.path.join(tempfile.mkdtemp(prefix="http-peer-"), "peer.sock")
    unix = UnixHTTPServer(socket_path, Handler)
    for server in (tcp, unix):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"port": tcp.server_address[1], "socket": socket_path}), flush=True)
    stopper = threading.Thread(target=sys.stdin.read, daemon=True)
    stopper.start()
    stopper.join(timeout=120)
    tcp.shutdown()
    unix.shutdown()
    os.unlink(socket_path)


main()
