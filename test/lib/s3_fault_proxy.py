#!/usr/bin/env python3
"""test/lib/s3_fault_proxy.py: an HTTP/1.1 reverse proxy that injects faults
between an S3 client and an S3 server (test/lib/s3.sh starts it).

Requests and responses are forwarded byte for byte, Host header included (a
SigV4 signature covers it), bodies streamed in 64 KiB pieces with
Content-Length, chunked or (responses) read-to-close framing; client
connections are kept alive, each with its own upstream connection.
"Expect: 100-continue" is passed through: the server's "100 Continue" goes to
the client, and a client that sends its body without waiting is not held up.

A share `rate` of the eligible requests (those whose method is in `methods`
and whose target matches `match`, all by default) gets a fault, chosen among
`faults` by a random generator seeded with `seed`:

  500, 503, 429  not forwarded: the request body is read and dropped, and the
                 answer is an S3 XML error (InternalError, SlowDown, SlowDown)
  reset          forwarded; half of the response body (or, with no body, half
                 of the response head) reaches the client, then the client
                 connection is reset (SO_LINGER 0: an RST, not a FIN)
  reset_req      half of the request body is forwarded, then both connections
                 are reset: the server never gets a whole request. A request
                 without a body is reset before anything is forwarded
  delay          forwarded; the response is held `delay` seconds before it
                 is passed on (the client has usually given up by then)

`faults` is a comma-separated list of kinds, each optionally weighted
(`503:3,reset:1`). `limit` caps the number of faults injected from when it is
set (0: no cap).

The listening port and a control port are written, "PORT CONTROL_PORT", to
--port-file once both listen. The control port speaks HTTP:

  GET  /config         the settings, KEY=VALUE lines
  POST /config         form-encoded KEY=VALUE pairs: rate, faults, delay, seed,
                       methods, match, limit; all are applied or none (400)
  GET  /stats          the counters, sorted KEY=VALUE lines
  POST /stats          the same
  POST /stats/reset    the counters, then zeroes them

Counters: connections; requests and requests.METHOD; faults and
faults.KIND; status.CODE of the answers the client got (forwarded or made
up; a reset connection counts under status.CODE only if the server's head
was read); req_body_bytes and req_body_bytes.METHOD, body bytes received from
clients (what a client sent, including bodies dropped by status faults);
resp_body_bytes and resp_body_bytes.METHOD, response body bytes passed to
clients; upstream_errors, requests that could not be forwarded (answered
502).

Python 3 standard library only.
"""

import argparse
import http.server
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

PIECE = 64 * 1024
MAX_HEAD = 64 * 1024
KINDS = ('500', '503', '429', 'reset', 'reset_req', 'delay')
STATUS_FAULTS = {
    '500': (500, 'Internal Server Error', 'InternalError',
            'We encountered an internal error. Please try again.'),
    '503': (503, 'Service Unavailable', 'SlowDown',
            'Please reduce your request rate.'),
    '429': (429, 'Too Many Requests', 'SlowDown',
            'Please reduce your request rate.'),
}

STOP = threading.Event()


def log(msg):
    sys.stderr.write('%s %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


class ProtocolError(Exception):
    pass


class Reset(Exception):
    """A fault decided to reset the connection here."""


# ---------------------------------------------------------------- settings

class Settings(object):
    FIELDS = ('rate', 'faults', 'delay', 'seed', 'methods', 'match', 'limit')

    def __init__(self):
        self.lock = threading.Lock()
        self.rate = 0.0
        self.faults = [('503', 1.0)]
        self.delay = 30.0
        self.seed = 0
        self.methods = None   # None: all
        self.match = None     # compiled regex or None
        self.limit = 0
        self.injected = 0     # faults since limit was set
        self.rng = random.Random(0)

    @staticmethod
    def parse(key, value):
        """The parsed value of one setting; ValueError if it is bad."""
        if key == 'rate':
            v = float(value)
            if not 0.0 <= v <= 1.0:
                raise ValueError('rate must be within 0.0..1.0')
            return v
        if key == 'faults':
            out = []
            for item in value.split(','):
                item = item.strip()
                if not item:
                    continue
                kind, _, weight = item.partition(':')
                if kind not in KINDS:
                    raise ValueError('unknown fault %r (known: %s)'
                                     % (kind, ' '.join(KINDS)))
                w = float(weight) if weight else 1.0
                if w <= 0:
                    raise ValueError('weight of %s must be > 0' % kind)
                out.append((kind, w))
            if not out:
                raise ValueError('faults is empty')
            return out
        if key == 'delay':
            v = float(value)
            if v < 0:
                raise ValueError('delay must be >= 0')
            return v
        if key in ('seed', 'limit'):
            v = int(value)
            if key == 'limit' and v < 0:
                raise ValueError('limit must be >= 0')
            return v
        if key == 'methods':
            names = [m.strip().upper() for m in value.split(',') if m.strip()]
            return set(names) if names else None
        if key == 'match':
            return re.compile(value) if value else None
        raise ValueError('unknown setting %r (known: %s)'
                         % (key, ' '.join(Settings.FIELDS)))

    def apply(self, pairs):
        """Apply [(key, text)] all at once; raises ValueError, applying none."""
        parsed = [(k, self.parse(k, v)) for k, v in pairs]
        with self.lock:
            for key, value in parsed:
                setattr(self, key, value)
                if key == 'seed':
                    self.rng = random.Random(value)
                if key == 'limit':
                    self.injected = 0

    def text(self):
        with self.lock:
            return ''.join('%s=%s\n' % kv for kv in (
                ('rate', self.rate),
                ('faults', ','.join('%s:%g' % f for f in self.faults)),
                ('delay', self.delay),
                ('seed', self.seed),
                ('methods', ','.join(sorted(self.methods or ()))),
                ('match', self.match.pattern if self.match else ''),
                ('limit', self.limit),
            ))

    def decide(self, method, target):
        """The fault for this request, or None."""
        with self.lock:
            if self.methods is not None and method not in self.methods:
                return None
            if self.match is not None and not self.match.search(target):
                return None
            if self.limit and self.injected >= self.limit:
                return None
            if self.rng.random() >= self.rate:
                return None
            kinds = [k for k, _ in self.faults]
            weights = [w for _, w in self.faults]
            kind = self.rng.choices(kinds, weights)[0]
            self.injected += 1
            return kind

    def delay_seconds(self):
        with self.lock:
            return self.delay


class Stats(object):
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def text(self, reset=False):
        with self.lock:
            out = ''.join('%s=%d\n' % kv for kv in sorted(self.counts.items()))
            if reset:
                self.counts = {}
            return out


SETTINGS = Settings()
STATS = Stats()


# ---------------------------------------------------------------- sockets

class Peer(object):
    """A socket with a read buffer."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b''

    def recv(self):
        data = self.sock.recv(PIECE)
        if not data:
            raise EOFError('connection closed')
        return data

    def read_head(self):
        """The next message head (up to and with the blank line), or None
        if the peer closed the connection before sending a byte of it."""
        start = 0
        while True:
            i = self.buf.find(b'\r\n\r\n', max(0, start - 3))
            if i >= 0:
                head, self.buf = self.buf[:i + 4], self.buf[i + 4:]
                return head
            if len(self.buf) > MAX_HEAD:
                raise ProtocolError('message head over %d bytes' % MAX_HEAD)
            start = len(self.buf)
            try:
                data = self.sock.recv(PIECE)
            except ConnectionError:
                if not self.buf:
                    return None
                raise
            if not data:
                if not self.buf:
                    return None
                raise ProtocolError('connection closed inside a message head')
            self.buf += data

    def read_some(self, n):
        """Between 1 and n bytes."""
        if self.buf:
            out, self.buf = self.buf[:n], self.buf[n:]
            return out
        data = self.sock.recv(min(n, PIECE))
        if not data:
            raise EOFError('connection closed inside a body')
        return data

    def read_line(self):
        while b'\r\n' not in self.buf:
            if len(self.buf) > 8192:
                raise ProtocolError('chunk line too long')
            self.buf += self.recv()
        i = self.buf.index(b'\r\n') + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def send(self, data):
        self.sock.sendall(data)

    def readable(self, timeout):
        if self.buf:
            return True
        r, _, _ = select.select([self.sock], [], [], timeout)
        return bool(r)

    def reset(self):
        """Close with an RST."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack('ii', 1, 0))
        except OSError:
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def parse_head(head):
    """(first line, {lower-case name: value}) of a message head."""
    lines = head[:-4].split(b'\r\n')
    first = lines[0].decode('latin-1')
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b':')
        if not sep:
            raise ProtocolError('bad header line %r' % line[:80])
        key = name.strip().decode('latin-1').lower()
        value = value.strip().decode('latin-1')
        if key in headers:
            headers[key] += ', ' + value
        else:
            headers[key] = value
    return first, headers


def body_framing(headers):
    """('chunked', None), ('length', N) or (None, None)."""
    te = headers.get('transfer-encoding', '').lower()
    if te and te.split(',')[-1].strip() == 'chunked':
        return 'chunked', None
    if 'content-length' in headers:
        try:
            n = int(headers['content-length'].split(',')[0].strip())
        except ValueError:
            raise ProtocolError('bad Content-Length')
        if n < 0:
            raise ProtocolError('bad Content-Length')
        return 'length', n
    return None, None


def wants_close(version, headers):
    conn = headers.get('connection', '').lower()
    tokens = [t.strip() for t in conn.split(',')]
    if 'close' in tokens:
        return True
    return version == 'HTTP/1.0' and 'keep-alive' not in tokens


class Relay(object):
    """Copies one body from src to dst (dst None: drop it), counting the
    bytes, and raises Reset once `budget` body bytes have gone through."""

    def __init__(self, src, dst, counter_keys, budget=None):
        self.src, self.dst = src, dst
        self.keys = counter_keys
        self.budget = budget
        self.done = 0

    def _pass(self, data, payload):
        if self.dst is not None:
            self.dst.send(data)
        if payload:
            for key in self.keys:
                STATS.add(key, payload)
            self.done += payload

    def _room(self, want):
        if self.budget is None:
            return want
        if self.done >= self.budget:
            raise Reset()
        return min(want, self.budget - self.done)

    def length(self, n):
        left = n
        while left > 0:
            data = self.src.read_some(self._room(min(left, PIECE)))
            left -= len(data)
            self._pass(data, len(data))
        if self.budget is not None and self.done >= self.budget and n > 0:
            raise Reset()

    def chunked(self):
        while True:
            line = self.src.read_line()
            try:
                size = int(line.split(b';')[0].strip(), 16)
            except ValueError:
                raise ProtocolError('bad chunk size line')
            self._pass(line, 0)
            if size == 0:
                while True:  # trailers, then the blank line
                    line = self.src.read_line()
                    self._pass(line, 0)
                    if line == b'\r\n':
                        return
            left = size
            while left > 0:
                data = self.src.read_some(self._room(min(left, PIECE)))
                left -= len(data)
                self._pass(data, len(data))
            crlf = self.src.read_line()
            if crlf != b'\r\n':
                raise ProtocolError('chunk data not followed by CRLF')
            self._pass(crlf, 0)

    def to_close(self):
        while True:
            try:
                data = self.src.read_some(self._room(PIECE))
            except EOFError:
                return
            self._pass(data, len(data))


def error_response(status, reason, code, message, close, head_only):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Error><Code>%s</Code><Message>%s</Message>'
            '<RequestId>fault-proxy</RequestId></Error>\n'
            % (code, message)).encode()
    head = ('HTTP/1.1 %d %s\r\n'
            'Content-Type: application/xml\r\n'
            'Content-Length: %d\r\n'
            'Date: %s\r\n'
            '%s'
            '\r\n' % (status, reason, len(body),
                      time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime()),
                      'Connection: close\r\n' if close else '')).encode()
    return head if head_only else head + body


# ---------------------------------------------------------------- proxying

class Connection(object):
    """One client connection, served request after request."""

    def __init__(self, sock, upstream_addr, timeout):
        self.client = Peer(sock)
        self.addr = upstream_addr
        self.timeout = timeout
        self.up = None

    def connect_upstream(self):
        if self.up is not None:
            # A kept-alive upstream connection that the server closed (or
            # that has stray bytes) is not reused.
            if self.up.readable(0):
                self.up.close()
                self.up = None
        if self.up is None:
            s = socket.create_connection(self.addr, timeout=self.timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.up = Peer(s)
        return self.up

    def drop_upstream(self, reset=False):
        if self.up is not None:
            if reset:
                self.up.reset()
            else:
                self.up.close()
            self.up = None

    def serve(self):
        STATS.add('connections')
        try:
            while not STOP.is_set():
                if not self.one_request():
                    break
        except Reset:
            self.client.reset()
            self.drop_upstream(reset=True)
            return
        except (OSError, EOFError, ProtocolError) as e:
            log('connection ends: %s' % e)
            self.client.close()
            self.drop_upstream()
            return
        except Exception as e:  # a bug here must not end the proxy
            log('connection ends: %r' % e)
            self.client.reset()
            self.drop_upstream(reset=True)
            return
        self.drop_upstream()
        self.lingering_close()

    def one_request(self):
        """Serve one request; False when the connection is to be closed."""
        head = self.client.read_head()
        if head is None:
            return False
        first, headers = parse_head(head)
        parts = first.split(' ')
        if len(parts) != 3:
            raise ProtocolError('bad request line %r' % first[:80])
        method, target, version = parts
        framing, length = body_framing(headers)
        has_body = framing == 'chunked' or (framing == 'length' and length > 0)
        expect = headers.get('expect', '').lower() == '100-continue'
        close = wants_close(version, headers)
        STATS.add('requests')
        STATS.add('requests.' + method)
        body_keys = ('req_body_bytes', 'req_body_bytes.' + method)

        fault = SETTINGS.decide(method, target)
        if fault:
            STATS.add('faults')
            STATS.add('faults.' + fault)
        log('%s %s%s' % (method, target[:200], ' FAULT ' + fault if fault else ''))

        if fault in STATUS_FAULTS:
            return self.status_fault(fault, method, framing, length, has_body,
                                     expect, close, body_keys)
        if fault == 'reset_req' and not has_body:
            raise Reset()

        try:
            up = self.connect_upstream()
            up.send(head)
        except OSError as e:
            return self.upstream_failed(e, method, framing, length, has_body,
                                        expect, body_keys)

        early = None  # a final response that came before the body was sent
        if has_body:
            if expect:
                early = self.await_continue(up)
            if early is None:
                budget = None
                if fault == 'reset_req':
                    budget = length // 2 if framing == 'length' else 1
                relay = Relay(self.client, up, body_keys, budget)
                if framing == 'length':
                    relay.length(length)
                else:
                    relay.chunked()

        return self.forward_response(up, method, fault, close, early)

    def await_continue(self, up):
        """After a head with "Expect: 100-continue": wait for the server's
        100 (passed on; None returned) or for the client to send its body
        anyway (None); a final response instead is returned as its head."""
        while True:
            if self.client.buf:
                return None
            r, _, _ = select.select([self.client.sock, up.sock], [], [],
                                    self.timeout)
            if not r:
                raise ProtocolError('timeout waiting for 100-continue')
            if up.sock in r:
                head = up.read_head()
                if head is None:
                    raise EOFError('server closed before answering')
                first, _ = parse_head(head)
                status = first.split(' ', 2)[1] if ' ' in first else ''
                if status.startswith('1') and status != '101':
                    self.client.send(head)
                    return None
                return head
            if self.client.sock in r:
                return None

    def forward_response(self, up, method, fault, close, early):
        head = early
        while True:
            if head is None:
                head = up.read_head()
                if head is None:
                    raise EOFError('server closed before answering')
            first, headers = parse_head(head)
            fparts = first.split(' ', 2)
            if len(fparts) < 2:
                raise ProtocolError('bad status line %r' % first[:80])
            version, status = fparts[0], fparts[1]
            if status.startswith('1') and status != '101':
                self.client.send(head)
                head = None
                continue
            break

        if fault == 'delay':
            if STOP.wait(SETTINGS.delay_seconds()):
                raise Reset()
        STATS.add('status.' + status)

        framing, length = body_framing(headers)
        no_body = (method == 'HEAD' or status in ('204', '304'))
        if no_body:
            framing, length = 'length', 0
        body_keys = ('resp_body_bytes', 'resp_body_bytes.' + method)
        if fault == 'reset':
            if framing == 'length' and length == 0:
                self.client.send(head[:len(head) // 2])
                raise Reset()
            budget = length // 2 if framing == 'length' else 1
        else:
            budget = None
        self.client.send(head)
        relay = Relay(up, self.client, body_keys, budget)
        if framing == 'length':
            relay.length(length)
        elif framing == 'chunked':
            relay.chunked()
        else:
            relay.to_close()
            self.drop_upstream()
            return False
        if early is not None or wants_close(version, headers):
            self.drop_upstream()
            return False
        return not close

    def drain(self, framing, length, body_keys):
        relay = Relay(self.client, None, body_keys)
        if framing == 'length':
            relay.length(length)
        elif framing == 'chunked':
            relay.chunked()

    def answer_without_upstream(self, status, reason, code, message, method,
                                framing, length, has_body, expect, close,
                                body_keys):
        """Answer from here. The request body is read and dropped, unless
        the client waits for a 100 Continue: then it gets the answer at once
        and the connection is closed after it."""
        if has_body and not expect:
            self.drain(framing, length, body_keys)
        closing = close or (has_body and expect)
        STATS.add('status.%d' % status)
        self.client.send(error_response(status, reason, code, message,
                                        closing, method == 'HEAD'))
        return not closing

    def status_fault(self, fault, method, framing, length, has_body, expect,
                     close, body_keys):
        status, reason, code, message = STATUS_FAULTS[fault]
        return self.answer_without_upstream(status, reason, code, message,
                                            method, framing, length, has_body,
                                            expect, close, body_keys)

    def upstream_failed(self, err, method, framing, length, has_body, expect,
                        body_keys):
        log('upstream %s:%d: %s' % (self.addr[0], self.addr[1], err))
        STATS.add('upstream_errors')
        self.drop_upstream()
        self.answer_without_upstream(502, 'Bad Gateway', 'BadGateway',
                                     'The fault proxy cannot reach the server.',
                                     method, framing, length, has_body, expect,
                                     True, body_keys)
        return False

    def lingering_close(self):
        """Close without an RST: stop sending, read and drop what the client
        still sends (for a few seconds at most), then close."""
        try:
            self.client.sock.shutdown(socket.SHUT_WR)
            deadline = time.time() + 5
            while time.time() < deadline:
                r, _, _ = select.select([self.client.sock], [], [], 0.5)
                if r and not self.client.sock.recv(PIECE):
                    break
        except OSError:
            pass
        self.client.close()


# ---------------------------------------------------------------- control

class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def reply(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == '/config':
            self.reply(200, SETTINGS.text())
        elif self.path == '/stats':
            self.reply(200, STATS.text())
        else:
            self.reply(404, 'no such thing: %s\n' % self.path)

    def do_POST(self):
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n).decode('utf-8') if n else ''
        if self.path == '/config':
            pairs = urllib.parse.parse_qsl(body, keep_blank_values=True)
            try:
                SETTINGS.apply(pairs)
            except (ValueError, re.error) as e:
                self.reply(400, 'error: %s\n' % e)
                return
            log('settings: %s' % ' '.join('%s=%s' % p for p in pairs))
            self.reply(200, SETTINGS.text())
        elif self.path == '/stats':
            self.reply(200, STATS.text())
        elif self.path == '/stats/reset':
            self.reply(200, STATS.text(reset=True))
        else:
            self.reply(404, 'no such thing: %s\n' % self.path)

    def log_message(self, fmt, *args):
        pass


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--upstream', required=True, metavar='HOST:PORT')
    ap.add_argument('--listen', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=0, help='0: any free port')
    ap.add_argument('--control-port', type=int, default=0)
    ap.add_argument('--port-file', help='gets "PORT CONTROL_PORT"')
    ap.add_argument('--timeout', type=float, default=300,
                    help='socket timeout, seconds (default 300)')
    for key in Settings.FIELDS:
        ap.add_argument('--' + key)
    args = ap.parse_args()

    host, _, port = args.upstream.rpartition(':')
    upstream = (host or '127.0.0.1', int(port))
    try:
        SETTINGS.apply([(k, getattr(args, k)) for k in Settings.FIELDS
                        if getattr(args, k) is not None])
    except (ValueError, re.error) as e:
        ap.error(str(e))

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.listen, args.port))
    listener.listen(128)
    control = http.server.ThreadingHTTPServer((args.listen, args.control_port),
                                              ControlHandler)
    control.daemon_threads = True
    threading.Thread(target=control.serve_forever, daemon=True).start()

    ports = '%d %d\n' % (listener.getsockname()[1], control.server_address[1])
    if args.port_file:
        tmp = args.port_file + '.tmp'
        with open(tmp, 'w') as f:
            f.write(ports)
        os.rename(tmp, args.port_file)
    log('listening on %s:%s, control port %s, upstream %s:%d; %s'
        % (args.listen, ports.split()[0], ports.split()[1], upstream[0],
           upstream[1], SETTINGS.text().replace('\n', ' ')))

    def stop(signum, frame):
        STOP.set()
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)

    while True:
        sock, _ = listener.accept()
        sock.settimeout(args.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(sock, upstream, args.timeout)
        threading.Thread(target=conn.serve, daemon=True).start()


if __name__ == '__main__':
    main()
