"""Exec a command under the process restrictions of a unit file, without systemd as PID 1.

Usage: /usr/bin/python3 sandbox_exec.py UNIT -- COMMAND [ARGS...]

Run by the *system* Python, which has libseccomp's bindings (Debian: python3-seccomp). From
the unit's [Service] section it applies what a plain process can apply to itself:
- UMask=
- NoNewPrivileges= (also required to load a seccomp filter without privileges)
- MemoryDenyWriteExecute= via the kernel's PR_SET_MDWE (Linux >= 6.3)
- SystemCallFilter= / SystemCallErrorNumber=, with the syscall groups expanded by
  `systemd-analyze syscall-filter` of the installed systemd, so the groups match the unit
- RestrictAddressFamilies= as socket() argument rules, like systemd's own filter
Namespacing, the device cgroup and the user switch need PID 1 and are not emulated.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import subprocess
import sys

import seccomp  # type: ignore[import-not-found]

PR_SET_NO_NEW_PRIVS = 38
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def service_settings(unit: str) -> dict[str, list[str]]:
    """[Service] assignments of a unit file (repeated keys accumulate, empty resets)."""
    settings: dict[str, list[str]] = {}
    section = ""
    with open(unit, encoding="utf-8") as lines:
        text = lines.read()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        if section == "Service":
            settings[key] = [] if not value else [*settings.get(key, []), value]
    return settings


def syscall_groups() -> dict[str, list[str]]:
    """Every @group and its members, as the installed systemd defines them."""
    out = subprocess.run(
        ["systemd-analyze", "syscall-filter", "--no-pager"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    groups: dict[str, list[str]] = {}
    current = ""
    for line in out.splitlines():
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        if not line[0].isspace():
            current = item
            groups[current] = []
        else:
            groups[current].append(item)
    return groups


def expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    """Syscall names for a list of syscalls and @groups (nested groups included)."""
    found: set[str] = set()
    for name in names:
        found |= expand(groups[name], groups) if name.startswith("@") else {name}
    return found


def allowed_syscalls(settings: dict[str, list[str]]) -> set[str]:
    """systemd's rule: allow lists add up, then every ~deny list is removed; @default always."""
    groups = syscall_groups()
    allow: set[str] = set(expand(["@default"], groups))
    deny: set[str] = set()
    for value in settings.get("SystemCallFilter", []):
        if value.startswith("~"):
            deny |= expand(value[1:].split(), groups)
        else:
            allow |= expand(value.split(), groups)
    return allow - deny


def load_filter(settings: dict[str, list[str]]) -> None:
    """Install the unit's syscall and address-family filter on this process."""
    code = settings.get("SystemCallErrorNumber", ["EPERM"])[-1]
    deny_action = seccomp.ERRNO(getattr(errno, code))
    filt = seccomp.SyscallFilter(defaction=deny_action)
    families = " ".join(settings.get("RestrictAddressFamilies", [])).split()
    for name in sorted(allowed_syscalls(settings)):
        try:
            if name == "socket" and families:
                for family in families:
                    arg = seccomp.Arg(0, seccomp.EQ, int(getattr(socket, family)))
                    filt.add_rule(seccomp.ALLOW, "socket", arg)
            else:
                filt.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError, OSError):
            continue  # a syscall this architecture does not have
    if families:
        # systemd answers a refused address family with EAFNOSUPPORT, not the filter's errno.
        for number in range(64):
            if number not in {int(getattr(socket, f)) for f in families}:
                arg = seccomp.Arg(0, seccomp.EQ, number)
                filt.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", arg)
    filt.load()


def main() -> None:
    unit, sep, *command = sys.argv[1:]
    assert sep == "--" and command, __doc__
    settings = service_settings(unit)
    if settings.get("UMask"):
        os.umask(int(settings["UMask"][-1], 8))
    libc = ctypes.CDLL(None, use_errno=True)
    if settings.get("NoNewPrivileges", ["no"])[-1] == "yes":
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    mdwe = settings.get("MemoryDenyWriteExecute", ["no"])[-1] == "yes"
    if mdwe and libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        sys.exit(f"sandbox_exec: PR_SET_MDWE failed: {os.strerror(ctypes.get_errno())}")
    if settings.get("SystemCallFilter"):
        load_filter(settings)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
