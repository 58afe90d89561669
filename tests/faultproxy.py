#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A TCP fault proxy for network-fault tests (stdlib only).

It listens on 127.0.0.1 (an ephemeral port, written to --port-file once
bound) and forwards every connection to --target HOST:PORT.  Bytes are
counted per direction over the proxy's whole life ("c2s": client to
server, "s2c": server to client), so a fault at byte K of a direction is
reproducible whatever the number of connections.  The fault fires once;
connections after it are forwarded untouched.

Modes (--mode):
  pass    forward only (use --stats to learn a session's byte counts)
  cut     forward K bytes of --dir, then close both sides (FIN)
  reset   forward K bytes of --dir, then reset both sides (RST: SO_LINGER 0)
  stall   forward K bytes of --dir, then forward nothing more in either
          direction and keep the connection open until --lifetime ends
  drip    from byte K of --dir, forward --count bytes one at a time every
          --interval seconds, then at full speed again
  flip    XOR byte K of --dir with --mask (default 0x20)

--stats FILE is rewritten after every chunk: "c2s=N s2c=N conns=N
fired=0|1", plus "mark_c2s=N mark_s2c=N" once the client has sent --mark
(default "LOGOUT"): the counts at the start of the chunk that carried it.

--after TEXT counts K from the end of the client's chunk that first
carried TEXT (c2s), or from the server bytes sent until then (s2c), so a
fault can be aimed at a command ("BODY.PEEK[]") whatever came before it.
"""

import argparse
import os
import signal
import socket
import struct
import sys
import threading
import time


class Proxy:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.count = {"c2s": 0, "s2c": 0}
        self.conns = 0
        self.fired = False
        self.mark = None
        self.mark_word = args.mark.encode()
        self.stalled = False
        self.drip_left = 0
        # where byte K is counted from: 0, or set when --after is seen
        self.origin = None if args.after else 0

    def write_stats(self):
        if not self.args.stats:
            return
        text = "c2s=%d s2c=%d conns=%d fired=%d\n" % (
            self.count["c2s"], self.count["s2c"], self.conns,
            1 if self.fired else 0)
        if self.mark is not None:
            text += "mark_c2s=%d mark_s2c=%d\n" % self.mark
        tmp = self.args.stats + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.args.stats)

    def plan(self, direction, data):
        """Split data at the fault: (before, action, after) where action is
        None when the fault does not fire within data."""
        a = self.args
        with self.lock:
            start = self.count[direction]
            if direction == "c2s" and self.mark is None and \
                    self.mark_word in data.upper():
                self.mark = (self.count["c2s"], self.count["s2c"])
            if direction == "c2s" and self.origin is None and \
                    a.after.encode() in data:
                self.origin = self.count[a.dir] + \
                    (len(data) if a.dir == "c2s" else 0)
            self.count[direction] += len(data)
            at = a.at + (self.origin or 0)
            fire = not self.fired and a.mode != "pass" and \
                direction == a.dir and self.origin is not None and \
                start + len(data) > at
            if fire:
                self.fired = True
                if a.mode == "stall":
                    self.stalled = True
                elif a.mode == "drip":
                    self.drip_left = a.count
            self.write_stats()
        if not fire:
            return data, None, b""
        k = max(at - start, 0)
        return data[:k], a.mode, data[k:]

    def send(self, dst, data, direction):
        while data and direction == self.args.dir and self.drip_left > 0:
            time.sleep(self.args.interval)
            dst.sendall(data[:1])
            data = data[1:]
            self.drip_left -= 1
        if data:
            dst.sendall(data)

    def pump(self, src, dst, direction, peers):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                before, action, after = self.plan(direction, data)
                if self.stalled:
                    # hold both sockets open, unread, until the lifetime ends
                    if action == "stall":
                        dst.sendall(before)
                    time.sleep(3600)
                self.send(dst, before, direction)
                if action in ("cut", "reset"):
                    self.kill(peers, action == "reset")
                    return
                if action == "flip":
                    after = bytes([after[0] ^ self.args.mask]) + after[1:]
                self.send(dst, after, direction)
        except OSError:
            pass
        finally:
            for s in peers:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def kill(self, peers, reset):
        for s in peers:
            try:
                if reset:
                    # SO_LINGER 0: close() aborts with RST; SHUT_RD first
                    # wakes the other pump without sending anything
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
                    s.shutdown(socket.SHUT_RD)
                    s.close()
                else:
                    s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle(self, client):
        host, port = self.args.target.rsplit(":", 1)
        try:
            server = socket.create_connection((host, int(port)), timeout=10)
            server.settimeout(None)
        except OSError:
            client.close()
            return
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            self.conns += 1
            self.write_stats()
        peers = (client, server)
        t = threading.Thread(target=self.pump,
                             args=(server, client, "s2c", peers), daemon=True)
        t.start()
        self.pump(client, server, "c2s", peers)
        t.join()
        for s in peers:
            try:
                s.close()
            except OSError:
                pass

    def serve(self, listener):
        while True:
            client, _ = listener.accept()
            threading.Thread(target=self.handle, args=(client,),
                             daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, help="HOST:PORT")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--mode", default="pass",
                    choices=("pass", "cut", "reset", "stall", "drip", "flip"))
    ap.add_argument("--dir", default="s2c", choices=("c2s", "s2c"))
    ap.add_argument("--at", type=int, default=0, help="byte offset K")
    ap.add_argument("--count", type=int, default=50, help="drip: bytes")
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--mask", type=lambda v: int(v, 0), default=0x20)
    ap.add_argument("--stats")
    ap.add_argument("--mark", default="LOGOUT")
    ap.add_argument("--after", default="",
                    help="count K from when the client first sent this")
    ap.add_argument("--lifetime", type=int, default=120)
    args = ap.parse_args()

    signal.signal(signal.SIGALRM, lambda *_: os._exit(0))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.alarm(args.lifetime)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    proxy = Proxy(args)
    proxy.write_stats()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % listener.getsockname()[1])
    os.rename(tmp, args.port_file)
    proxy.serve(listener)


if __name__ == "__main__":
    sys.exit(main())
