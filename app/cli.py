"""The `plateau` command line: its parser; each command's work is in `app/commands/`."""

from __future__ import annotations

import argparse
import sys

from app.commands.common import CliError
from app.commands.customers import cmd_import_customers, cmd_person
from app.commands.demo import cmd_demo
from app.commands.ivr import cmd_ivr_check, cmd_ivr_exits, cmd_ivr_try
from app.commands.outbound import cmd_campaign_create, cmd_dnc_import, cmd_import_list
from app.commands.queues import cmd_queue_add, cmd_queue_member
from app.commands.server import cmd_cluster_status, cmd_config, cmd_migrate, cmd_recordings_purge, cmd_serve
from app.commands.users import cmd_phone_reset_password, cmd_user_add
from core.settings import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plateau", description="Plateau contact-centre server")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("serve", help="run the HTTP/WebSocket server")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--with-pbx", action="store_true", help="also run the private Asterisk of asterisk-conf/")
    p.add_argument("--node-name", help="this node's name in the leases (default PLATEAU_NODE_NAME, hostname)")
    p.set_defaults(func=cmd_serve)

    cluster = sub.add_parser("cluster", help="several nodes on one PostgreSQL database")
    cluster = cluster.add_subparsers(dest="cluster_command", required=True)
    p = cluster.add_parser("status", help="every lease (owner, token, expires in) and the nodes seen")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_cluster_status)

    p = sub.add_parser("config", help="print the effective configuration, secrets masked")
    p.set_defaults(func=cmd_config)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="user_command", required=True)
    p = user.add_parser("add", help="create a user")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=["agent", "supervisor", "manager", "admin"])
    p.add_argument("--password", help="(prompted twice when omitted)")
    p.add_argument("--name", help="display name")
    p.add_argument("--sip-endpoint")
    p.add_argument("--team")
    p.add_argument("--language", default="fr", choices=["fr", "en"])
    p.set_defaults(func=cmd_user_add)

    imp = sub.add_parser("import", help="import data").add_subparsers(dest="import_command", required=True)
    p = imp.add_parser(
        "customers", help="import contacts from a CSV file (Excel-style, ';', cp1252 or UTF-8)"
    )
    p.add_argument("file")
    p.add_argument("--encoding", help="force the encoding (default: detected)")
    p.add_argument("--delimiter", help="force the separator (default: sniffed among ; , tab)")
    p.add_argument("--all-or-nothing", action="store_true", help="import nothing if any line is rejected")
    p.add_argument("--dry-run", action="store_true", help="check the file, write nothing")
    p.add_argument("--show-rejects", type=int, default=50, help="how many rejected lines to print")
    p.set_defaults(func=cmd_import_customers)

    # --- outbound ---
    p = imp.add_parser("list", help="import a call list (CSV or XLSX) into leads")
    p.add_argument("file")
    p.add_argument("--list", required=True, help="call list name (created when missing)")
    p.add_argument("--template", help="saved column-mapping template")
    p.add_argument("--encoding", choices=["utf-8", "utf-8-sig", "cp1252", "latin-1"])
    p.add_argument("--delimiter", choices=[";", ",", "tab"])
    p.add_argument("--dedupe", default="list", choices=["list", "campaign", "all"])
    p.add_argument("--dedupe-by", default="number", choices=["number", "external_id"])
    p.add_argument("--campaign", help="campaign name: its DNC lists, rule set (consent) and lists for dedupe")
    p.add_argument("--show-rejects", type=int, default=50)
    p.set_defaults(func=cmd_import_list)
    dnc = sub.add_parser("dnc", help="do-not-call lists").add_subparsers(dest="dnc_command", required=True)
    p = dnc.add_parser("import", help="add the numbers of a file (e.g. a Bloctel extract) to a DNC list")
    p.add_argument("file")
    p.add_argument("--list", default="Interne", help="DNC list name (created when missing)")
    p.add_argument("--kind", default="internal", choices=["internal", "national", "campaign"])
    p.add_argument("--campaign", help="campaign name, for a campaign list")
    p.add_argument("--show-rejects", type=int, default=50)
    p.set_defaults(func=cmd_dnc_import)

    person = sub.add_parser("person", help="a customer's data rights (GDPR)").add_subparsers(
        dest="person_command", required=True
    )
    for name, help_text in [
        ("export", "everything held about a person, as one ZIP (JSON, CSV, audio)"),
        ("erase", "erase a person everywhere, keeping a tombstone that stops re-imports"),
        ("object", "the person objects to calls: their numbers go on the internal do-not-call list"),
    ]:
        p = person.add_parser(name, help=help_text)
        who = p.add_mutually_exclusive_group(required=True)
        who.add_argument("--number", help="a phone number, in any format")
        who.add_argument("--email")
        who.add_argument("--contact-id", type=int)
        if name == "export":
            p.add_argument("--out", required=True, help="the ZIP file to write")
        if name == "erase":
            p.add_argument("--yes", action="store_true", help="confirm: erasure cannot be undone")
        p.set_defaults(func=cmd_person)

    camp = sub.add_parser("campaign", help="outbound campaigns").add_subparsers(
        dest="campaign_command", required=True
    )
    p = camp.add_parser("create", help="create a draft campaign from a YAML file (the API's fields)")
    p.add_argument("file")
    p.set_defaults(func=cmd_campaign_create)

    phone = sub.add_parser("phone", help="users' phones").add_subparsers(dest="phone_command", required=True)
    p = phone.add_parser("reset-password", help="a new SIP password for USER's phone, printed once")
    p.add_argument("username")
    p.set_defaults(func=cmd_phone_reset_password)

    rec = sub.add_parser("recordings", help="call recordings").add_subparsers(
        dest="rec_command", required=True
    )
    p = rec.add_parser("purge", help="delete expired recordings (not those a complaint holds), say which")
    p.set_defaults(func=cmd_recordings_purge)
    queue = sub.add_parser("queue", help="queues and skills")
    queue = queue.add_subparsers(dest="queue_command", required=True)
    p = queue.add_parser("add", help="create a queue (the same rules as the admin page and the API)")
    p.add_argument("name", help="its Asterisk name: a-z, 0-9, _ and -, starting with a letter")
    p.add_argument("--display-name")
    p.add_argument("--strategy", help="ringall, leastrecent, fewestcalls, random, rrmemory, linear, …")
    p.add_argument("--wrapup", type=int, help="seconds an agent is not rung after a call (app_queue)")
    p.add_argument("--did", help="the number that reaches it")
    p.add_argument("--max-wait", type=int, help="seconds a caller waits at most")
    p.add_argument("--overflow", help="the queue callers go to after the wait")
    p.add_argument("--service-level", type=int, help="answered within N seconds counts as on time")
    p.add_argument("--sl-target", type=int, help="service-level target, percent")
    p.add_argument("--short-abandon", type=int, help="abandons under N seconds are short")
    p.set_defaults(func=cmd_queue_add)
    p = queue.add_parser("member", help="put USERNAME in QUEUE with a skill (1 best … 9), or --remove")
    p.add_argument("queue")
    p.add_argument("username")
    p.add_argument("--skill", type=int, default=1)
    p.add_argument("--remove", action="store_true")
    p.set_defaults(func=cmd_queue_member)

    p = sub.add_parser("demo", help="seed a demo data set (idempotent)")
    p.add_argument(
        "--live",
        action="store_true",
        help="then simulate customers calling and colleagues answering, against `make run`'s Asterisk",
    )
    p.add_argument("--minutes", type=float, help="--live: stop after this long (default: until Ctrl-C)")
    p.add_argument("--calls-per-minute", type=float, default=2.0, help="--live: how busy (default 2)")
    p.add_argument("--colleagues", help="--live: simulated agents, comma-separated (default agent2,agent3)")
    p.add_argument("--talk-seconds", default="20-60", help="--live: how long colleagues talk (LOW-HIGH)")
    p.add_argument("--seed", type=int, default=7, help="--live: the same seed replays the same calls")
    p.add_argument("--pbx-dir", help="--live: the private Asterisk's folder (default var/asterisk)")
    p.set_defaults(func=cmd_demo)

    ivr = sub.add_parser("ivr", help="IVR flows").add_subparsers(dest="ivr_command", required=True)
    p = ivr.add_parser("check", help="validate the IVR flows (exit code 1 with one line per problem)")
    p.add_argument("--dir", help="flows directory (default: PLATEAU_IVR_FLOWS_DIR)")
    p.add_argument("--no-sounds", action="store_true", help="do not check that the sounds exist")
    p.set_defaults(func=cmd_ivr_check)
    p = ivr.add_parser("try", help="dry-run a flow: keys typed, time of the call, caller's tier")
    p.add_argument("flow")
    p.add_argument("--keys", help="comma-separated inputs, one per prompt, e.g. 2,12345674#")
    p.add_argument("--at", help="ISO date-time of the call (default: now)")
    p.add_argument("--caller", default="0612345678", help="caller ID")
    p.add_argument("--tier", choices=["vip", "gold", "standard", "low"], help="a known caller of this tier")
    p.add_argument("--complaint", action="store_true", help="the known caller has an open complaint")
    p.set_defaults(func=cmd_ivr_try)
    p = ivr.add_parser("exits", help="where callers left the IVR (per flow, node and exit), as JSON")
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--flow")
    p.set_defaults(func=cmd_ivr_exits)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, CliError) as exc:
        print(f"plateau: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
