#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A scripted fake IMAP server for hostile-server tests (stdlib only).

It listens on 127.0.0.1 (an ephemeral port, written to --port-file once
bound), plays a scenario given as JSON, records every byte it receives
(after TLS decryption) in --record, and exits after --lifetime seconds.

Scenario keys (all optional):
  greeting        greeting line(s): a string or a list of actions
                  (default "* OK [CAPABILITY <caps>] fake")
  tls             "none" (default), "implicit" or "starttls"
  caps            CAPABILITY before TLS (or always, without TLS);
                  default "IMAP4rev1 AUTH=PLAIN UIDPLUS"
  caps_tls        CAPABILITY after STARTTLS (default: caps minus STARTTLS)
  auth            "ok" (default) or "no"
  starttls        "ok" (default), "no", or "inject" (extra bytes sent in
                  the same packet as the OK)
  starttls_untagged
                  lines sent before the tagged OK to STARTTLS (in clear
                  text, so they must not count after TLS)
  continuation    "ok" (default): a "+" for each synchronising literal;
                  "stall": never send it (the client waits for it);
                  "untagged": an untagged EXISTS first, then the "+"
  commands        {"COMMAND": [actions]} replies replacing the built-in
                  ones; COMMAND is the upper-case command name ("UID FETCH")
  exists          messages the built-in SELECT reports (default 1)

An action is a string:
  "text"          a line, "{tag}" replaced by the command's tag, CRLF added
  "RAW:text"      bytes without CRLF; \\r \\n \\t and \\xNN escapes decoded
  "BIG:N"         N bytes of "x" with no line end
  "REPEAT:N:text" the line text N times (rounded up to 256); with "{n}"
                  in text, exactly N times, "{n}" numbering them from 1
  "EOF"           close the connection
  "STALL"         say nothing until the lifetime ends
"""

import argparse
import json
import os
import signal
import socket
import ssl
import sys
import time


def decode_raw(text):
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n == "r":
                out += b"\r"
                i += 2
                continue
            if n == "n":
                out += b"\n"
                i += 2
                continue
            if n == "t":
                out += b"\t"
                i += 2
                continue
            if n == "\\":
                out += b"\\"
                i += 2
                continue
            if n == "x" and i + 3 < len(text):
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
        out += c.encode("utf-8")
        i += 1
    return bytes(out)


class Closed(Exception):
    pass


class Conn:
    def __init__(self, sock, record):
        self.sock = sock
        self.buf = b""
        self.record = record

    def recv_more(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.record.write(data)
        self.record.flush()
        self.buf += data

    def readline(self):
        while b"\n" not in self.buf:
            self.recv_more()
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def read(self, n):
        while len(self.buf) < n:
            self.recv_more()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, data):
        self.sock.sendall(data)


class Server:
    def __init__(self, args, scenario):
        self.args = args
        self.sc = scenario
        self.record = open(args.record, "ab")
        self.tls_on = False

    def tls_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.args.cert, self.args.key)
        return ctx

    def caps(self):
        if self.tls_on and "caps_tls" in self.sc:
            return self.sc["caps_tls"]
        caps = self.sc.get("caps", "IMAP4rev1 AUTH=PLAIN UIDPLUS")
        if self.tls_on:
            caps = " ".join(c for c in caps.split() if c != "STARTTLS")
        return caps

    def play(self, conn, actions, tag):
        if isinstance(actions, str):
            actions = [actions]
        for a in actions:
            if a == "EOF":
                raise Closed()
            if a == "STALL":
                time.sleep(3600)
            elif a.startswith("RAW:"):
                conn.send(decode_raw(a[4:].replace("{tag}", tag)))
            elif a.startswith("REPEAT:") and "{n}" in a:
                n, line = a[7:].split(":", 1)
                line = line.replace("{tag}", tag)
                for lo in range(1, int(n) + 1, 256):
                    conn.send("".join(
                        line.replace("{n}", str(i)) + "\r\n"
                        for i in range(lo, min(lo + 256, int(n) + 1))
                    ).encode("utf-8"))
            elif a.startswith("REPEAT:"):
                n, line = a[7:].split(":", 1)
                line = line.replace("{tag}", tag).encode("utf-8") + b"\r\n"
                for _ in range(0, int(n), 256):
                    conn.send(line * 256)
            elif a.startswith("BIG:"):
                n = int(a[4:])
                chunk = b"x" * 65536
                while n > 0:
                    conn.send(chunk[:min(n, len(chunk))])
                    n -= min(n, len(chunk))
            else:
                conn.send(a.replace("{tag}", tag).encode("utf-8") + b"\r\n")

    def read_command(self, conn):
        """A command line with its literals resolved, as bytes."""
        line = conn.readline()
        full = line
        while True:
            stripped = line.rstrip(b"\r\n")
            if not stripped.endswith(b"}") or b"{" not in stripped:
                break
            spec = stripped[stripped.rindex(b"{") + 1:-1]
            plus = spec.endswith(b"+")
            try:
                n = int(spec.rstrip(b"+"))
            except ValueError:
                break
            if not plus:
                if self.sc.get("continuation", "ok") == "stall":
                    time.sleep(3600)
                if self.sc.get("continuation", "ok") == "untagged":
                    conn.send(b"* 2 EXISTS\r\n")
                conn.send(b"+ go ahead\r\n")
            full += conn.read(n)
            line = conn.readline()
            full += line
        return full

    def builtin(self, conn, tag, cmd, rest):
        sc = self.sc
        if cmd == "CAPABILITY":
            self.play(conn, ["* CAPABILITY " + self.caps(), "{tag} OK done"],
                      tag)
        elif cmd == "STARTTLS":
            mode = sc.get("starttls", "ok")
            if mode == "no":
                self.play(conn, "{tag} NO TLS not available today", tag)
                return
            reply = b"".join(line.encode() + b"\r\n" for line in
                             sc.get("starttls_untagged", []))
            reply += tag.encode() + b" OK Begin TLS negotiation now\r\n"
            if mode == "inject":
                reply += b"* CAPABILITY IMAP4rev1 AUTH=PLAIN LOGIN\r\n"
            conn.send(reply)
            conn.sock = self.tls_context().wrap_socket(conn.sock,
                                                       server_side=True)
            conn.buf = b""
            self.tls_on = True
        elif cmd in ("LOGIN", "AUTHENTICATE"):
            if cmd == "AUTHENTICATE" and len(rest.split()) < 2:
                conn.send(b"+ \r\n")
                conn.readline()
            if sc.get("auth", "ok") == "ok":
                self.play(conn, "{tag} OK [CAPABILITY " + self.caps() +
                          "] Logged in", tag)
            else:
                self.play(conn, "{tag} NO [AUTHENTICATIONFAILED] "
                          "Authentication failed.", tag)
        elif cmd == "LIST":
            if rest.strip() == '"" ""':
                self.play(conn, ['* LIST (\\Noselect) "/" ""',
                                 "{tag} OK List done"], tag)
            else:
                self.play(conn, ['* LIST (\\HasNoChildren) "/" INBOX',
                                 "{tag} OK List done"], tag)
        elif cmd in ("SELECT", "EXAMINE"):
            n = sc.get("exists", 1)
            self.play(conn, [
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
                "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted "
                "\\Seen \\Draft \\*)] Flags permitted.",
                "* %d EXISTS" % n, "* 0 RECENT",
                "* OK [UIDVALIDITY 1234] UIDs valid",
                "* OK [UIDNEXT %d] Predicted next UID" % (n + 1),
                "{tag} OK [READ-WRITE] Select completed"], tag)
        elif cmd == "LOGOUT":
            self.play(conn, ["* BYE Logging out", "{tag} OK Logout done"],
                      tag)
            raise Closed()
        elif cmd in ("NOOP", "CHECK", "UID STORE", "UID EXPUNGE", "CREATE",
                     "DELETE", "FETCH", "UID FETCH"):
            self.play(conn, "{tag} OK done", tag)
        else:
            self.play(conn, "{tag} BAD unknown command", tag)

    def session(self, sock):
        conn = Conn(sock, self.record)
        self.tls_on = False
        if self.sc.get("tls") == "implicit":
            conn.sock = self.tls_context().wrap_socket(sock, server_side=True)
            self.tls_on = True
        greeting = self.sc.get("greeting",
                               "* OK [CAPABILITY %s] fake" % self.caps())
        self.play(conn, greeting, "*")
        while True:
            line = self.read_command(conn)
            words = line.decode("utf-8", "replace").rstrip("\r\n").split(" ",
                                                                         3)
            tag = words[0]
            cmd = words[1].upper() if len(words) > 1 else ""
            rest = " ".join(words[2:])
            if cmd == "UID" and len(words) > 2:
                cmd = "UID " + words[2].upper()
                rest = " ".join(words[3:])
            actions = self.sc.get("commands", {}).get(cmd)
            if actions is not None:
                self.play(conn, actions, tag)
            else:
                self.builtin(conn, tag, cmd, rest)

    def serve(self, listener):
        while True:
            sock, _ = listener.accept()
            try:
                self.session(sock)
            except (Closed, ConnectionError, ssl.SSLError, OSError):
                pass
            finally:
                try:
                    sock.close()
                except OSError:
                    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", required=True, help="JSON scenario file")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--lifetime", type=int, default=20)
    args = ap.parse_args()
    with open(args.scenario) as f:
        scenario = json.load(f)

    signal.signal(signal.SIGALRM, lambda *_: os._exit(0))
    signal.alarm(args.lifetime)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % listener.getsockname()[1])
    os.rename(tmp, args.port_file)
    Server(args, scenario).serve(listener)


if __name__ == "__main__":
    sys.exit(main())
