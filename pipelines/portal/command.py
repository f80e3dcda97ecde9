"""``pipelines portal``: the governance portal on localhost for the embedded default."""

from __future__ import annotations

import argparse
from typing import Any

EPILOG = """\
examples:
  pipelines portal                       # http://127.0.0.1:8765/ as the governance role
  pipelines portal --role ml --port 9000 # see what an ML consumer sees

Standalone, the portal serves one local user (the role you give) and listens on loopback
only. For several users, serve it inside Airflow's api-server behind its login (README,
"Governance portal").
"""


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from pipelines.portal.access import Role
    from pipelines.portal.app import create_app
    from pipelines.settings import settings_for

    settings = settings_for(args)
    role = Role(args.role)

    def local_role() -> Role:
        return role

    app = create_app(settings, local_role)
    print(f"governance portal: http://{args.host}:{args.port}/ (role {role.value}; Ctrl-C stops)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "portal",
        help="serve the governance portal on localhost (quality, lineage, PII, releases, audit)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        choices=["127.0.0.1", "localhost", "::1"],
        help="loopback address to listen on (default 127.0.0.1)",
    )
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument(
        "--role",
        default="governance",
        choices=["governance", "engineering", "ml"],
        help="the portal role of the local user (default governance)",
    )
    parser.set_defaults(func=_serve)
