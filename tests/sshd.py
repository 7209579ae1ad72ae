"""A real OpenSSH server on 127.0.0.1 for the SSH runner's tests (Debian's openssh-server).

Started with a temporary host key and user key; the client side trusts exactly that host
key through a known_hosts file, as a user would after verifying a fingerprint.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"


@dataclass
class SshServer:
    port: int
    folder: Path
    user: str
    user_key: Path
    known_hosts: Path
    process: subprocess.Popen

    def profile_yaml(self, name: str, **overrides) -> str:
        values = {
            "host": "127.0.0.1",
            "port": self.port,
            "user": self.user,
            "key_file": str(self.user_key),
            "known_hosts": str(self.known_hosts),
            "python": sys.executable,
        }
        values.update(overrides)
        return f"""\
schema_version: 1
name: {name}
display_name: Loopback SSH device ({name})
kind: sbc
hardware: {{soc: loopback, cpu: host CPU, cores: 2, clock_ghz: 2.0, memory_mb: 1024}}
runtime: {{interpreter: ai_edge_litert, python: "{values["python"]}", delegates: [xnnpack], default_threads: 1}}
quantization: {{supported: [float32, float16, dynamic, int8, int16x8]}}
transport:
  type: ssh
  host: "{values["host"]}"
  user: "{values["user"]}"
  port: {values["port"]}
  key_file: "{values["key_file"]}"
  known_hosts: "{values["known_hosts"]}"
sources: [tests/sshd.py]
"""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sshd(folder: Path, forced_command: Path | None = None) -> SshServer:
    """sshd on a free loopback port; with ``forced_command``, the user key runs every command through it
    (OpenSSH's ``command=``, the client's line in ``$SSH_ORIGINAL_COMMAND``)."""
    if not Path(SSHD).exists():
        raise RuntimeError(f"{SSHD} is missing: run scripts/setup-tests.sh (it installs openssh-server)")
    folder.mkdir(parents=True, exist_ok=True)
    host_key = keygen(folder / "host_key")
    user_key = keygen(folder / "user_key")
    authorized = folder / "authorized_keys"
    prefix = f'command="{forced_command}",no-pty ' if forced_command is not None else ""
    authorized.write_text(prefix + (folder / "user_key.pub").read_text())
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nAuthorizedKeysFile {authorized}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        f"PermitRootLogin prohibit-password\nPidFile {folder / 'sshd.pid'}\nStrictModes no\nUsePAM no\n"
    )
    # sshd's privilege-separation folder; present on a configured system, absent in a bare container.
    os.makedirs("/run/sshd", exist_ok=True)
    process = subprocess.Popen([SSHD, "-D", "-f", str(config), "-E", str(folder / "sshd.log")])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {(folder / 'sshd.log').read_text()}")
        time.sleep(0.1)
    known_hosts = folder / "known_hosts"
    key_type, key_data = (folder / "host_key.pub").read_text().split()[:2]
    known_hosts.write_text(f"[127.0.0.1]:{port} {key_type} {key_data}\n")
    return SshServer(port, folder, getpass.getuser(), user_key, known_hosts, process)
