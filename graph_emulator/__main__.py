"""``python -m graph_emulator``: run the emulator.

Prints ONE JSON line to stdout once listening, e.g.
``{"base_url": "https://127.0.0.1:8001", "ca_file": "/tmp/.../ca.pem"}``,
so that a parent process (``graph_emulator.testing.EmulatorProcess``, the demo
script) can learn the port (``--port 0`` picks a free one) and the CA bundle.
Logs go to stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import sys

import uvicorn

from .app import Emulator, build_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m graph_emulator", description="Local Microsoft identity platform + Graph calendar emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a CA generated at start (required by MSAL)")
    parser.add_argument("--ca-file", help="where to write the CA certificate (default: a temp file); <ca-file>.key keeps the CA across restarts")
    parser.add_argument("--state-file", help="JSON file: loaded at start if present, saved periodically and on shutdown")
    parser.add_argument("--client-id", action="append", default=[], help="register an app (repeatable, pairs with --client-secret)")
    parser.add_argument("--client-secret", action="append", default=[])
    parser.add_argument("--redirect-uri", action="append", default=[], help="redirect URI of the registered app(s) (repeatable)")
    parser.add_argument("--seed-demo-user", action="store_true", help="create a demo user with a few events if missing")
    parser.add_argument("--service-time-ms", type=int, default=None, help="initial service time per Graph request")
    parser.add_argument("--allow-insecure-notification-urls", action="store_true",
                        help="DEVELOPMENT ONLY: accept plain-http notificationUrl/lifecycleNotificationUrl to a loopback host "
                             "(Microsoft requires https)")
    parser.add_argument("--fault-profile", choices=("none", "realistic"), default=None,
                        help="realistic: occasional 503/504 without Retry-After and slow responses (config fault_*)")
    parser.add_argument("--log-level", default="warning")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    apps = []
    for index, client_id in enumerate(args.client_id):
        secret = args.client_secret[index] if index < len(args.client_secret) else (args.client_secret[-1] if args.client_secret else None)
        apps.append({"client_id": client_id, "client_secret": secret, "redirect_uris": args.redirect_uri})
    overrides = {}
    if args.service_time_ms is not None:
        overrides["service_time_ms"] = args.service_time_ms
    if args.fault_profile:
        overrides["fault_profile"] = args.fault_profile
    if args.allow_insecure_notification_urls:
        overrides["allow_insecure_notification_urls"] = True
    emu = Emulator(state_file=args.state_file, config_overrides=overrides, apps=apps, seed_demo_user=args.seed_demo_user)

    tls = None
    if args.tls:
        from .tls import TLSFiles

        tls = TLSFiles(args.ca_file)

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    public_host = "127.0.0.1" if args.host in ("0.0.0.0", "") else ("[::1]" if args.host == "::" else (f"[{args.host}]" if ":" in args.host else args.host))
    base_url = f"{'https' if tls else 'http'}://{public_host}:{port}"

    config = uvicorn.Config(
        build_app(emu),
        http="h11",
        lifespan="on",
        log_level=args.log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        ssl_certfile=tls.cert_file if tls else None,
        ssl_keyfile=tls.key_file if tls else None,
        timeout_graceful_shutdown=3,
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                await task
                raise SystemExit("graph_emulator failed to start")
            await asyncio.sleep(0.01)
        sys.stdout.write(json.dumps({"base_url": base_url, "ca_file": tls.ca_file if tls else None}) + "\n")
        sys.stdout.flush()
        await task

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    finally:
        if tls:
            tls.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
