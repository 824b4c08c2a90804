"""A CA and a server certificate for 127.0.0.1/localhost, made with trustme at start.

The CA certificate is written where clients can pass it as ``verify=``. When
the CA file's private key is kept next to it (``<ca-file>.key``) a restart
reuses the same CA, so a demo that trusts the file keeps working across
emulator restarts.
"""
from __future__ import annotations

import os
import tempfile

import trustme


class TLSFiles:
    def __init__(self, ca_file: str | None = None):
        self.tmpdir = tempfile.TemporaryDirectory(prefix="graph-emulator-tls-")
        self.ca_file = os.path.abspath(ca_file) if ca_file else os.path.join(self.tmpdir.name, "ca.pem")
        key_file = self.ca_file + ".key"
        ca = None
        if ca_file and os.path.exists(self.ca_file) and os.path.exists(key_file):
            try:
                with open(self.ca_file, "rb") as cert, open(key_file, "rb") as key:
                    ca = trustme.CA.from_pem(cert.read(), key.read())
            except (ValueError, OSError):
                ca = None
        if ca is None:
            ca = trustme.CA(organization_name="graph_emulator")
            os.makedirs(os.path.dirname(self.ca_file), exist_ok=True)
            ca.cert_pem.write_to_path(self.ca_file)
            if ca_file:
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(ca.private_key_pem.bytes())
        server = ca.issue_cert("127.0.0.1", "localhost", "::1")
        self.cert_file = os.path.join(self.tmpdir.name, "server.pem")
        self.key_file = os.path.join(self.tmpdir.name, "server.key")
        server.private_key_and_cert_chain_pem.write_to_path(self.cert_file)
        server.private_key_pem.write_to_path(self.key_file)

    def cleanup(self) -> None:
        self.tmpdir.cleanup()
