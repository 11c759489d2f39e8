"""Write a man page for one of edged's console scripts, generated from its argparse parser.

    python packaging/manpage.py edgectl 1 edgectl.1
    python packaging/manpage.py edged 8 edged.8

Run it with the Python of the environment that has edged installed (the .deb build runs it
with the package's own venv): the program is found through the installed distribution's
console_scripts entry point, and the version on the page is the installed one.

The parser is captured, not rebuilt: the entry point is called with no arguments while
`ArgumentParser.parse_known_args` is replaced by a function that hands back the parser and
stops. So the page always describes the parser the program really uses, and neither program
needs to expose a parser-building function. argparse has no public API to walk a parser;
like argparse-manpage and shtab this reads `_actions` and `_action_groups`.

(This directory is not a Python package: `packaging` is also the name of a PyPI package that
pip and pytest import, so nothing here may be imported as `packaging.*`. Run it as a script.)
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

DISTRIBUTION = "edged"

# What the parsers cannot say: hand-written sections per program (roff-escaped at output).
Entry = tuple[str, str]  # (term, description); an empty term makes a plain paragraph
EXTRA_SECTIONS: dict[str, list[tuple[str, list[Entry]]]] = {
    "edged": [
        (
            "SIGNALS",
            [
                (
                    "SIGHUP",
                    "Reload the config file. A bad file is refused with the same "
                    "messages as at start, and the running config stays.",
                ),
                (
                    "SIGTERM",
                    "Stop: flush storage, publish the offline status, exit 0 within 5 seconds.",
                ),
            ],
        ),
        (
            "EXIT STATUS",
            [
                ("0", "clean stop"),
                ("74", "the database cannot be opened"),
                (
                    "78",
                    "a bad config or an unusable state directory; nothing was started "
                    "(systemd does not restart the unit for it)",
                ),
            ],
        ),
        (
            "FILES",
            [
                (
                    "/etc/edge/venue.toml",
                    "the venue config (root:edge 0640); check it with "
                    "edgectl config check /etc/edge/venue.toml",
                ),
                ("/etc/edge/tls/", "MQTT CA, client certificate and key (root:edge 0750)"),
                ("/var/lib/edged/", "the SQLite database: bookings, journal, outbox"),
                ("/run/edged/", "the control socket that edgectl talks to"),
                (
                    "/lib/systemd/system/edged.service",
                    "the hardened systemd unit; local "
                    "changes go in a drop-in: systemctl edit edged",
                ),
            ],
        ),
        (
            "SEE ALSO",
            [("", "edgectl(1), systemctl(1), journalctl(1), /usr/share/doc/edged/install.md")],
        ),
    ],
    "edgectl": [
        (
            "FILES",
            [
                (
                    "/run/edged/edged.sock",
                    "the daemon's control socket; members of group "
                    "edge may use it (usermod -aG edge LOGIN)",
                ),
                ("/etc/edge/venue.toml", "the venue config that edged runs"),
            ],
        ),
        (
            "SEE ALSO",
            [("", "edged(8), /usr/share/doc/edged/edgectl.md")],
        ),
    ],
}
SECTION_TITLES = {"1": "User Commands", "8": "System Administration"}


class _Captured(Exception):
    """Raised from inside parse_known_args to carry the parser out of main()."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


def capture_parser(main: Callable[..., object]) -> argparse.ArgumentParser:
    """The parser that `main([])` builds, taken at its first parse call."""
    original = argparse.ArgumentParser.parse_known_args

    def grab(self: argparse.ArgumentParser, *_args: object, **_kwargs: object) -> NoReturn:
        raise _Captured(self)

    argparse.ArgumentParser.parse_known_args = grab  # type: ignore[method-assign]
    try:
        main([])
    except _Captured as captured:
        return captured.parser
    finally:
        argparse.ArgumentParser.parse_known_args = original  # type: ignore[method-assign]
    raise SystemExit(f"manpage: {main!r} returned without parsing its arguments")


def entry_point(program: str) -> Callable[..., object]:
    """The function behind the console script `program` of the installed distribution."""
    for ep in importlib.metadata.distribution(DISTRIBUTION).entry_points:
        if ep.group == "console_scripts" and ep.name == program:
            function: Callable[..., object] = ep.load()
            return function
    raise SystemExit(f"manpage: {DISTRIBUTION} installs no console script named {program!r}")


def esc(text: str) -> str:
    """Escape text for roff: backslashes, ASCII hyphen-minus, control characters at line start."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        "\\&" + line if line.startswith((".", "'")) else line for line in text.split("\n")
    )


def expand_help(action: argparse.Action, prog: str) -> str:
    """The help text with %(default)s and friends filled in, as argparse prints it."""
    text = action.help or ""
    if "%" not in text:
        return text
    params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
    params["prog"] = prog
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(c) for c in params["choices"])
    try:
        return text % params
    except (KeyError, TypeError, ValueError):
        return text


def invocation(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """'-h, --help' / '--config CONFIG' / 'DEVICE.POINT', exactly as --help shows it."""
    formatter = parser._get_formatter()
    return formatter._format_action_invocation(action)


def one_line_usage(parser: argparse.ArgumentParser) -> str:
    """The usage line without the 'usage: ' prefix and without argparse's line wrapping."""
    formatter = argparse.HelpFormatter(parser.prog, width=10_000)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return " ".join(formatter.format_help().split())


def subcommands(
    parser: argparse.ArgumentParser,
) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of each subcommand, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias
                    continue
                seen.add(id(sub))
                yield name, helps.get(name, ""), sub


def option_list(parser: argparse.ArgumentParser, with_help: bool = True) -> list[str]:
    """.TP entries for every documented argument, under each group's title when it has one."""
    out: list[str] = []
    for group in parser._action_groups:
        actions = [
            a
            for a in group._group_actions
            if a.help is not argparse.SUPPRESS
            and not isinstance(a, argparse._SubParsersAction)
            and (with_help or not isinstance(a, argparse._HelpAction))
        ]
        if not actions:
            continue
        if group.title and group.title not in (
            "options",
            "optional arguments",
            "positional arguments",
        ):
            out += [".PP", f"\\fI{esc(group.title)}\\fR"]
        for action in actions:
            term = invocation(parser, action)
            out += [".TP", f"\\fB{esc(term)}\\fR", esc(expand_help(action, parser.prog)) or "\\&"]
    return out


def epilog(parser: argparse.ArgumentParser) -> list[str]:
    """An epilog (examples, notes) kept as written: argparse users lay them out by hand."""
    if not parser.epilog:
        return []
    return [".PP", ".nf", esc(parser.epilog.strip("\n")), ".fi"]


def command_sections(parser: argparse.ArgumentParser, depth: int = 0) -> list[str]:
    """One .SS per subcommand (nested ones too): what it does, its usage and its options."""
    out: list[str] = []
    for _name, help_text, sub in subcommands(parser):
        has_children = any(True for _ in subcommands(sub))
        out += [f'.SS "{esc(sub.prog)}"']
        about = sub.description or help_text
        if about:
            out += [".PP", esc(about)]
        out += [".PP", f"Usage: \\fB{esc(one_line_usage(sub))}\\fR"]
        out += option_list(sub, with_help=False)  # -h is on every command: said once
        out += epilog(sub)
        if has_children:
            out += command_sections(sub, depth + 1)
    return out


def build_date() -> str:
    """SOURCE_DATE_EPOCH when set (reproducible builds), else today, as YYYY-MM-DD."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (
        datetime.datetime.fromtimestamp(int(epoch), tz=datetime.UTC)
        if epoch
        else datetime.datetime.now(tz=datetime.UTC)
    )
    return when.strftime("%Y-%m-%d")


def render(program: str, section: str, parser: argparse.ArgumentParser, version: str) -> str:
    """The whole page as roff (man(7) macros only, so man-db and mandoc both read it)."""
    description = parser.description or ""
    summary = description.split(". ")[0].rstrip(".")
    title = SECTION_TITLES.get(section, "")
    lines = [
        f".\\\" Generated by packaging/manpage.py from {program}'s argparse parser. Do not edit.",
        f'.TH {program.upper()} {section} "{build_date()}" "{DISTRIBUTION} {version}" "{title}"',
        # Left-aligned, never hyphenated: commands and ids must be copied as they are printed.
        ".ad l",
        ".nh",
        ".SH NAME",
        f"{esc(program)} \\- {esc(summary[:1].lower() + summary[1:])}",
        ".SH SYNOPSIS",
        f"\\fB{esc(program)}\\fR {esc(one_line_usage(parser).removeprefix(program).strip())}",
        ".SH DESCRIPTION",
        esc(description),
        *epilog(parser),
        ".SH OPTIONS",
        *option_list(parser),
    ]
    commands = command_sections(parser)
    if commands:
        lines += [".SH COMMANDS", *commands]
    for heading, entries in EXTRA_SECTIONS.get(program, []):
        lines.append(f".SH {heading}")
        for term, text in entries:
            lines += [".TP", f"\\fB{esc(term)}\\fR", esc(text)] if term else [".PP", esc(text)]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    program, section, output = argv
    parser = capture_parser(entry_point(program))
    version = importlib.metadata.version(DISTRIBUTION)
    Path(output).write_text(render(program, section, parser, version), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
