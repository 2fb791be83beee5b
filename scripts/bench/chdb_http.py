"""Current ClickHouse (chDB, the engine in-process) behind the part of ClickHouse's HTTP interface the gateway
uses, so that the stats benchmark can time the same API on a current server (scripts/bench/stats.sh with
SERVER=chdb). No current ClickHouse server installs here; chDB is the same engine without the server around it.

What it serves: `POST /` (or `GET /`) with the SQL in the body and/or the `query` parameter, `database`,
`default_format`, and any other URL parameter as a setting of that query (the gateway's budget:
max_execution_time, max_memory_usage, timeout_overflow_mode); `GET /ping`. An error is a 500 with ClickHouse's
message as the body and its code in X-ClickHouse-Exception-Code, as the server answers. Not served: users and
passwords (every login is accepted), compression (the answer is sent plain, which the client reads), query
parameters (param_*), sessions.

chDB runs one query at a time per process: requests are served by threads and queue for it, so two queries of
one request that a server would run side by side run one after the other here, which only adds to the times.

    python3 scripts/bench/chdb_http.py PATH PORT        (CHDB_HTTP_LOG=N: print each query's time and N
                                                         characters of its text)
"""

import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import chdb.session

# URL parameters that are not settings of the query.
NOT_SETTINGS = {"query", "database", "default_format", "user", "password", "compress", "decompress",
                "enable_http_compression", "session_id", "query_id", "role"}
LOG = int(os.environ.get("CHDB_HTTP_LOG") or 0)
SETTING_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class Engine:
    def __init__(self, path):
        self.session = chdb.session.Session(path)
        self.lock = threading.Lock()
        self.defaults = {}  # setting -> its default value
        self.current = {}  # setting -> the value the session has, for those ever set
        self.database = None

    def run(self, sql, database, fmt, settings):
        with self.lock:
            database = database or "default"
            if database != self.database:
                self.session.query(f"USE `{database}`")
                self.database = database
            # The query's settings, every other one at its default, as a server's next query starts; only the
            # settings that differ from the previous query's are sent (the gateway sends the same every time).
            wanted = {name: self.default(name) for name in self.current} | dict(settings)
            for name, value in wanted.items():
                if self.current.get(name, self.default(name)) != value:
                    self.session.query(f"SET {name} = {quoted(value)}")
                    self.current[name] = value
            started = time.monotonic()
            result = self.session.query(sql, fmt)
            if LOG:
                print(f"{(time.monotonic() - started) * 1000:8.1f} ms  {' '.join(sql.split())[:LOG]}", flush=True)
            return result.bytes() if result is not None else b""

    def default(self, name):
        if name not in self.defaults:
            self.defaults[name] = str(self.session.query(
                f"SELECT value FROM system.settings WHERE name = {quoted(name, text=True)}", "TSVRaw")).strip()
        return self.defaults[name]


def quoted(value, text=False):
    if not text and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle's algorithm the second waits for the client's delayed
    # ACK of the first (40 ms) on every answer of a kept-alive connection.
    disable_nagle_algorithm = True
    engine = None

    def log_message(self, *_):
        pass

    def do_GET(self):
        if urlsplit(self.path).path == "/ping":
            return self.answer(200, b"Ok.\n")
        return self.serve(b"")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.serve(self.rfile.read(length) if length else b"")

    def serve(self, body):
        params = parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
        named = dict(params)
        sql = "\n".join(part for part in (named.get("query", ""), body.decode()) if part)
        settings = [(k, v) for k, v in params if k not in NOT_SETTINGS and not k.startswith("param_")]
        bad = [k for k, _ in settings if not SETTING_NAME.match(k)]
        if bad:
            return self.answer(400, f"Code: 115. DB::Exception: Unknown setting {bad[0]}\n".encode(), code=115)
        try:
            out = self.engine.run(sql, named.get("database"), named.get("default_format", "TabSeparated"), settings)
        except Exception as err:  # noqa: BLE001 - chDB raises plain exceptions with ClickHouse's message
            message = str(err)
            code = re.search(r"Code: (\d+)", message)
            return self.answer(500, (message + "\n").encode(), code=int(code.group(1)) if code else 1001)
        return self.answer(200, out)

    def answer(self, status, body, code=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if code is not None:
            self.send_header("X-ClickHouse-Exception-Code", str(code))
        self.end_headers()
        self.wfile.write(body)


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    Handler.engine = Engine(path)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"chDB {chdb.__version__} at {path} on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
