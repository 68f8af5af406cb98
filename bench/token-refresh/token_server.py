"""A counting OAuth token server for bench/token-refresh/run.sh.

Serves RFC 8414 metadata and the refresh_token grant (each refresh answered
with a new access token valid for an hour), after an optional delay that
stands in for the network distance to a real authorization server. Prints
its URL on stdout, then serves until killed. GET /count returns how many
refresh requests it has answered.

    python3 token_server.py [DELAY_MS]
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

DELAY = float(sys.argv[1]) / 1000 if len(sys.argv) > 1 else 0.0
lock = threading.Lock()
refreshes = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        base = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}"
        if self.path == "/.well-known/oauth-authorization-server":
            self.reply(200, {"issuer": base, "token_endpoint": base + "/token"})
        elif self.path == "/count":
            self.reply(200, {"refreshes": refreshes})
        else:
            self.reply(404, {"error": "not_found"})

    def do_POST(self):
        global refreshes
        length = int(self.headers.get("content-length", 0))
        form = parse_qs(self.rfile.read(length).decode())
        if self.path != "/token" or form.get("grant_type") != ["refresh_token"]:
            self.reply(400, {"error": "unsupported_grant_type"})
            return
        time.sleep(DELAY)
        with lock:
            refreshes += 1
            n = refreshes
        self.reply(200, {"access_token": f"at-{n}", "token_type": "Bearer",
                         "expires_in": 3600, "refresh_token": f"rt-{n}"})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
