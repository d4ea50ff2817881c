"""Demo programs: a real SSH/SFTP server, a client, and a loopback session.

python -m paramiko.demo server [--root DIR] [--port N]
python -m paramiko.demo client HOST [--port N] [--user U] [--password P] [-i KEY] [--command CMD]
python -m paramiko.demo loopback [--size MiB]
"""
