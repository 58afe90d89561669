#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
# A TCP proxy that adds a fixed delay to every chunk in each direction, to
# give loopback benchmarks a round-trip time where the kernel has no netem.
#
# usage: delayproxy.py LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS [LIFETIME_S]
#
# Listens on 127.0.0.1:LISTEN_PORT (0 picks a free port), prints the port on
# stdout once it accepts connections, and forwards bytes both ways.  Each chunk
# read is written out DELAY_MS later, in order, so a request/response round
# trip costs 2 * DELAY_MS while throughput is not limited by the delay (the
# reading side keeps reading while earlier chunks wait).  With LIFETIME_S the
# proxy exits after that many seconds.

import asyncio
import sys

CHUNK = 64 * 1024
# Bound on queued chunks per direction, so a slow receiver pushes back on the
# sender through TCP instead of growing the proxy without limit.
QUEUE_CHUNKS = 512


async def pump(reader, writer, delay):
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


async def handle(creader, cwriter, host, port, delay):
	try:
		sreader, swriter = await asyncio.open_connection(host, port)
	except OSError:
		cwriter.close()
		return
	try:
		await asyncio.gather(pump(creader, swriter, delay),
		    pump(sreader, cwriter, delay))
	finally:
		for w in (cwriter, swriter):
			w.close()


async def main():
	if len(sys.argv) not in (5, 6):
		sys.stderr.write("usage: delayproxy.py LISTEN_PORT TARGET_HOST "
		    "TARGET_PORT DELAY_MS [LIFETIME_S]\n")
		return 2
	listen = int(sys.argv[1])
	host = sys.argv[2]
	port = int(sys.argv[3])
	delay = float(sys.argv[4]) / 1000.0
	lifetime = float(sys.argv[5]) if len(sys.argv) == 6 else None

	server = await asyncio.start_server(
	    lambda r, w: handle(r, w, host, port, delay), "127.0.0.1", listen)
	print(server.sockets[0].getsockname()[1], flush=True)
	async with server:
		if lifetime is None:
			await server.serve_forever()
		else:
			try:
				await asyncio.wait_for(server.serve_forever(), lifetime)
			except asyncio.TimeoutError:
				pass
	return 0


if __name__ == "__main__":
	try:
		sys.exit(asyncio.run(main()))
	except KeyboardInterrupt:
		sys.exit(0)
