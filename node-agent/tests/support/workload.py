# The test workload: a tiny program the tests control, run by the node agent as image
# `example.local/surge/workload:test`.
#   workload serve            HTTP on $POD_IP:$PORT: /ready /live /stats /env; on SIGTERM
#                             appends "SIGTERM" to $TERM_MARKER and exits 0
#   workload exit CODE        exits with CODE
#   workload append FILE TEXT appends TEXT and a newline to FILE, exits 0
import http.server
import json
import os
import signal
import sys
import threading

mode = sys.argv[1] if len(sys.argv) > 1 else "serve"
if mode == "exit":
    sys.exit(int(sys.argv[2]))
if mode == "append":
    with open(sys.argv[2], "a") as f:
        f.write(sys.argv[3] + "\n")
    sys.exit(0)

ready_checks = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global ready_checks
        if self.path == "/ready":
            ready_checks += 1
            self.reply(200, b"ready")
        elif self.path == "/live":
            self.reply(500 if os.environ.get("LIVENESS") == "fail" else 200, b"live")
        elif self.path == "/stats":
            body = {"pid": os.getpid(), "ready_checks": ready_checks}
            self.reply(200, json.dumps(body).encode())
        elif self.path == "/env":
            self.reply(200, json.dumps(dict(os.environ)).encode())
        else:
            self.reply(404, b"not found")

    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(
    (os.environ["POD_IP"], int(os.environ.get("PORT", "8000"))), Handler
)


def on_term(signum, frame):
    marker = os.environ.get("TERM_MARKER")
    if marker:
        with open(marker, "a") as f:
            f.write("SIGTERM\n")
    threading.Thread(target=server.shutdown).start()


signal.signal(signal.SIGTERM, on_term)
print("serving on", server.server_address, flush=True)
server.serve_forever()
