"""POST /refresh from many clients at once over the sidecar's Unix socket (RefreshEndpointTests).

    refresh_burst.py SOCKET PATH COUNT   # prints {"statuses": {...}, "cached": {"true": n, "false": n}}
"""
import http.client
import json
import socket
import sys
import threading

socket_path, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])


class UnixConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(socket_path)


statuses, cached, lock, start = {}, {}, threading.Lock(), threading.Barrier(count)


def post():
    connection = UnixConnection("localhost")
    start.wait()
    connection.request("POST", path)
    response = connection.getresponse()
    body = response.read()
    with lock:
        statuses[str(response.status)] = statuses.get(str(response.status), 0) + 1
        if response.status == 200:
            key = str(json.loads(body).get("cached")).lower()
            cached[key] = cached.get(key, 0) + 1
    connection.close()


threads = [threading.Thread(target=post) for _ in range(count)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(90)
print(json.dumps({"statuses": statuses, "cached": cached}))
