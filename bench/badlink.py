#!/usr/bin/env python3
"""A bad link in user space (tc netem is not available): forwards 127.0.0.1:LISTEN to
127.0.0.1:UPSTREAM, pacing each direction to RATE bytes per second and cutting every open
connection every CUT seconds (CUT may be a range, "3-8": each wait drawn uniformly from it, seeded
so runs compare). Counts the bytes it carried each way in COUNTS (JSON, rewritten
every second).  Usage: badlink.py LISTEN UPSTREAM RATE CUT COUNTS"""
import asyncio, json, random, sys, time

listen, upstream, rate, counts_path = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[5]
cut_lo, _, cut_hi = sys.argv[4].partition("-")
cut_lo = float(cut_lo); cut_hi = float(cut_hi or cut_lo)
rng = random.Random(7)
counts = {"up": 0, "down": 0, "cuts": 0, "connections": 0}
open_writers = set()

async def pump(reader, writer, key):
    start, sent = time.monotonic(), 0
    try:
        while True:
            data = await reader.read(1024)
            if not data:
                break
            sent += len(data)
            counts[key] += len(data)
            due = start + sent / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()

async def handle(client_r, client_w):
    try:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", upstream)
    except OSError:
        client_w.close()
        return
    counts["connections"] += 1
    open_writers.update([client_w, server_w])
    await asyncio.gather(pump(client_r, server_w, "up"), pump(server_r, client_w, "down"))
    open_writers.discard(client_w)
    open_writers.discard(server_w)

async def cutter():
    while True:
        await asyncio.sleep(rng.uniform(cut_lo, cut_hi))
        if open_writers:
            counts["cuts"] += 1
        for w in list(open_writers):
            try:
                w.transport.abort()
            except Exception:
                pass
        open_writers.clear()

async def report():
    while True:
        with open(counts_path, "w") as f:
            json.dump(counts, f)
        await asyncio.sleep(1)

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    await asyncio.gather(server.serve_forever(), cutter(), report())

asyncio.run(main())
