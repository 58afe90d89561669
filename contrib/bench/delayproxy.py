#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
# A TCP proxy that adds a fixed delay to every chunk in each direction, to
# give loopback benchmarks a round-trip time where the kernel has no netem;
# with a delay of 0 and --count it measures the bytes a client moves.
#
# usage: delayproxy.py [--count FILE] LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS [LIFETIME_S]
#
# Listens on 127.0.0.1:LISTEN_PORT (0 picks a free port), prints the port on
# stdout once it accepts connections, and forwards bytes both ways.  Each chunk
# read is written out DELAY_MS later, in order, so a request/response round
# trip costs 2 * DELAY_MS while throughput is not limited by the delay (the
# reading side keeps reading while earlier chunks wait).  With LIFETIME_S the
# proxy exits after that many seconds; SIGTERM and SIGINT end it too.
#
# --count FILE: on SIGUSR1, once no connection is open (waiting at most
# COUNT_WAIT_S), write "TO_CLIENTS TO_TARGET CONNECTIONS" to FILE (bytes
# forwarded each way and connections accepted since the last write) and start
# counting afresh; the same on exit.  FILE appears whole (written aside and
# renamed), so a reader can wait for it to exist.

import argparse
import asyncio
import os
import signal
import sys

CHUNK = 64 * 1024
# Bound on queued chunks per direction, so a slow receiver pushes back on the
# sender through TCP instead of growing the proxy without limit.
QUEUE_CHUNKS = 512
# A client that has exited may still have its last bytes and its close in
# flight through the proxy; a count is taken once they are through.
COUNT_WAIT_S = 10.0
# Directions, as indexes of Counts.bytes.
TO_CLIENTS, TO_TARGET = 0, 1


class Counts:
	def __init__(self):
		self.open = 0
		self.reset()

	def reset(self):
		self.bytes = [0, 0]
		self.conns = 0

	def write(self, path):
		tmp = path + ".tmp"
		with open(tmp, "w") as fp:
			fp.write("%d %d %d\n" % (self.bytes[TO_CLIENTS],
			    self.bytes[TO_TARGET], self.conns))
		os.replace(tmp, path)
		self.reset()


async def pump(reader, writer, delay, counts, way):
	loop = asyncio.get_running_loop()
	queue = asyncio.Queue(QUEUE_CHUNKS)

	async def read_side():
		try:
			while True:
				data = await reader.read(CHUNK)
				await queue.put((loop.time() + delay, data))
				if not data:
					return
		except (ConnectionError, OSError):
			await queue.put((loop.time(), None))

	reading = asyncio.create_task(read_side())
	try:
		while True:
			due, data = await queue.get()
			wait = due - loop.time()
			if wait > 0:
				await asyncio.sleep(wait)
			if data is None:
				writer.close()
				break
			if not data:
				if writer.can_write_eof():
					writer.write_eof()
				break
			writer.write(data)
			counts.bytes[way] += len(data)
			await writer.drain()
	except (ConnectionError, OSError):
		writer.close()
	finally:
		# The receiver is gone or the stream ended: stop reading, or a
		# full queue would block the reader for ever.
		reading.cancel()
		try:
			await reading
		except asyncio.CancelledError:
			pass


async def handle(creader, cwriter, host, port, delay, counts):
	counts.open += 1
	counts.conns += 1
	try:
		try:
			sreader, swriter = await asyncio.open_connection(host,
			    port)
		except OSError:
			cwriter.close()
			return
		try:
			await asyncio.gather(
			    pump(creader, swriter, delay, counts, TO_TARGET),
			    pump(sreader, cwriter, delay, counts, TO_CLIENTS))
		finally:
			for w in (cwriter, swriter):
				w.close()
	finally:
		counts.open -= 1


async def write_when_idle(counts, path):
	loop = asyncio.get_running_loop()
	end = loop.time() + COUNT_WAIT_S
	while counts.open > 0 and loop.time() < end:
		await asyncio.sleep(0.01)
	counts.write(path)


async def main(args):
	loop = asyncio.get_running_loop()
	delay = args.delay_ms / 1000.0
	counts = Counts()
	server = await asyncio.start_server(
	    lambda r, w: handle(r, w, args.target_host, args.target_port, delay,
	    counts), "127.0.0.1", args.listen_port)
	stop = asyncio.Event()
	for s in (signal.SIGTERM, signal.SIGINT):
		loop.add_signal_handler(s, stop.set)
	# The loop keeps only weak references to tasks.
	pending = set()

	def take_count():
		t = loop.create_task(write_when_idle(counts, args.count))
		pending.add(t)
		t.add_done_callback(pending.discard)
	if args.count:
		loop.add_signal_handler(signal.SIGUSR1, take_count)
	print(server.sockets[0].getsockname()[1], flush=True)
	try:
		await asyncio.wait_for(stop.wait(), args.lifetime)
	except asyncio.TimeoutError:
		pass
	# Not wait_closed(): it would wait for connections still open.
	server.close()
	if args.count:
		counts.write(args.count)
	return 0


def parse():
	ap = argparse.ArgumentParser(description="TCP proxy adding a delay "
	    "each way; with --count, a byte counter")
	ap.add_argument("--count", metavar="FILE",
	    help="on SIGUSR1 and on exit, write the byte counts to FILE")
	ap.add_argument("listen_port", type=int)
	ap.add_argument("target_host")
	ap.add_argument("target_port", type=int)
	ap.add_argument("delay_ms", type=float)
	ap.add_argument("lifetime", type=float, nargs="?", metavar="lifetime_s")
	return ap.parse_args()


if __name__ == "__main__":
	try:
		sys.exit(asyncio.run(main(parse())))
	except KeyboardInterrupt:
		sys.exit(0)
