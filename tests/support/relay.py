"""A tiny TCP relay program (stdin/stdout <-> a TCP port) for ProxyCommand tests:
run as ``python -c RELAY_SCRIPT HOST PORT``."""

RELAY_SCRIPT = r"""
import os, socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
def up():
    while True:
        data = os.read(0, 65536)
        if not data:
            s.shutdown(socket.SHUT_WR)
            return
        s.sendall(data)
threading.Thread(target=up, daemon=True).start()
while True:
    data = s.recv(65536)
    if not data:
        break
    os.write(1, data)
"""
