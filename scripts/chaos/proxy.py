#!/usr/bin/env python3
"""TCP proxies for scripts/chaos.sh: in front of the three Kafka nodes' CLIENT listeners
(the `unreachable` scenario) or of PostgreSQL (`postgres-slow`).

  proxy.py [--slow-ms MS] LISTEN_PORT:TARGET_PORT [...]

Each pair forwards 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT. Control by signals:
SIGUSR1 black-holes the FIRST pair (its connections stay open, nothing is forwarded
either way and new ones are accepted and held: a node that is alive but unreachable, as
behind a dropped route); SIGUSR2 restores it (the held connections are closed, so
clients reconnect). SIGHUP toggles a delay of MS milliseconds (default 200) on every chunk
the first pair forwards, either way: a server that answers, slowly. SIGTERM stops
everything.
"""
import asyncio
import signal
import sys


class Pair:
    def __init__(self, listen: int, target: int):
        self.listen, self.target = listen, target
        self.cut = False
        self.delay = 0.0
        self.held: set[asyncio.StreamWriter] = set()
        self.resume = asyncio.Event()
        self.resume.set()

    async def pipe(self, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await self.resume.wait()
                if self.delay:
                    await asyncio.sleep(self.delay)
                if writer.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(self, client_reader, client_writer):
        self.held.add(client_writer)
        try:
            await self.resume.wait()
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
            except OSError:
                client_writer.close()
                return
            self.held.add(up_writer)
            await asyncio.gather(self.pipe(client_reader, up_writer),
                                 self.pipe(up_reader, client_writer))
        finally:
            self.held.discard(client_writer)

    def black_hole(self):
        self.cut = True
        self.resume.clear()

    def restore(self):
        self.cut = False
        for writer in list(self.held):
            writer.close()
        self.held.clear()
        self.resume.set()


def toggle_slow(pair, seconds):
    pair.delay = 0.0 if pair.delay else seconds
    print(f"delay {pair.delay * 1000:.0f} ms", flush=True)


async def main(pairs, slow_s):
    servers = [await asyncio.start_server(p.handle, "127.0.0.1", p.listen) for p in pairs]
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, pairs[0].black_hole)
    loop.add_signal_handler(signal.SIGUSR2, pairs[0].restore)
    loop.add_signal_handler(signal.SIGHUP, toggle_slow, pairs[0], slow_s)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("proxies ready", flush=True)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    slow_ms = 200
    if args[:1] == ["--slow-ms"] and len(args) >= 2:
        slow_ms, args = int(args[1]), args[2:]
    if not args:
        sys.exit(__doc__)
    pairs = []
    for arg in args:
        listen, target = arg.split(":")
        pairs.append(Pair(int(listen), int(target)))
    asyncio.run(main(pairs, slow_ms / 1000))
