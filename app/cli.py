"""The `plateau` command line."""

from __future__ import annotations

import argparse
import json
import sys

from app.settings import ConfigError, load_settings


def _cmd_migrate(args: argparse.Namespace) -> int:
    from app import migrate

    migrate.upgrade(load_settings().database_url, args.revision)
    print(f"database at {args.revision}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app

    settings = load_settings()
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.http_host,
        port=args.port or settings.http_port,
        log_level="info",
        ws_ping_interval=20,
        ws_ping_timeout=20,
    )
    return 0


def _cmd_config(_args: argparse.Namespace) -> int:
    print(json.dumps(load_settings().masked(), indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plateau", description="Plateau contact-centre server")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("serve", help="run the HTTP/WebSocket server")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("config", help="print the effective configuration, secrets masked")
    p.set_defaults(func=_cmd_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"plateau: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
