"""A TCP proxy that delays every byte by a fixed one-way latency in each
direction: the benchmark's stand-in for a network link when the kernel has no
sch_netem (`tc qdisc ... netem`).

    python3 delay_proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS

Listens on 127.0.0.1 only.  A new connection costs one round trip before any
data moves (the TCP handshake a real link would have); afterwards each chunk
is forwarded DELAY_MS after it arrived, in order, so a request/response
exchange costs 2 x DELAY_MS as on a link.  Bandwidth is not limited."""
import asyncio
import socket
import sys

CHUNK = 65536


async def pump(reader, writer, delay):
    """Forward READER to WRITER, each chunk DELAY seconds after it arrived."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.ensure_future(send())
    try:
        while True:
            data = await reader.read(CHUNK)
            queue.put_nowait((loop.time() + delay, data or None))
            if not data:
                break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()


async def handle(client_r, client_w, host, port, delay):
    try:
        await asyncio.sleep(2 * delay)      # SYN there, SYN-ACK back
        server_r, server_w = await asyncio.open_connection(host, port)
    except OSError:
        client_w.close()
        return
    for s in (client_w, server_w):
        sock = s.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    await asyncio.gather(pump(client_r, server_w, delay), pump(server_r, client_w, delay),
                         return_exceptions=True)
    for w in (client_w, server_w):
        w.close()


async def main(listen_port, host, port, delay):
    server = await asyncio.start_server(lambda r, w: handle(r, w, host, port, delay),
                                        "127.0.0.1", listen_port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                     float(sys.argv[4]) / 1000.0))
