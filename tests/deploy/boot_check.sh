#!/bin/bash
# End-to-end deployment check (manual, slow, root only; not part of the pytest run):
#   1. debootstrap a clean Debian bookworm into DIR (or reuse DIR if it already has one),
#   2. follow docs/install.md steps 1-5 and 7 inside it (commands copied from the guide),
#   3. boot it with systemd-nspawn, so systemd 252 is PID 1 and runs the real unit,
#   4. check: READY/STATUS, sandbox of the running process, reload, watchdog restart of a
#      hung daemon, crash-loop rate limit + cool-down, exit 78 not restarted, clean stop.
# Usage: tests/deploy/boot_check.sh [DIR]   (default /tmp/edged-boot-check; about 3-4 min)
# Needs: debootstrap, systemd-container (systemd-nspawn), network to the Debian mirror/PyPI.
# Not checked here: DeviceAllow=/MemoryMax= (nspawn gives the container read-only cgroup v1
# controllers, so they are not enforced inside it) and real serial/GPIO hardware.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${1:-/tmp/edged-boot-check}
ROOT=$DIR/root
MIRROR=${MIRROR:-http://deb.debian.org/debian}
FAILS=0
say() { printf '\n== %s\n' "$*"; }
check() { # check NAME COMMAND...: run, print PASS/FAIL
    local name=$1; shift
    if "$@"; then echo "PASS $name"; else echo "FAIL $name"; FAILS=$((FAILS + 1)); fi
}

mounted=()
cleanup() {
    if [[ -n "${NSPAWN_PID:-}" ]] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        kill -TERM "$NSPAWN_PID"; wait "$NSPAWN_PID" || true
    fi
    for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || true; done
}
trap cleanup EXIT

mkdir -p "$DIR"
if [[ ! -x $ROOT/usr/bin/apt-get ]]; then
    say "debootstrap bookworm into $ROOT"
    debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" > "$DIR/debootstrap.log" 2>&1
fi
# Site specifics, not part of the guide: name resolution and this host's extra CAs (a
# TLS-intercepting proxy would otherwise break pip inside the root).
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
[[ -s $ROOT/etc/hosts ]] || printf '127.0.0.1 localhost\n::1 localhost\n' > "$ROOT/etc/hosts"
mkdir -p "$ROOT/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true

mount -t proc proc "$ROOT/proc" && mounted=("$ROOT/proc" "${mounted[@]}")
mount --bind /dev "$ROOT/dev" && mounted=("$ROOT/dev" "${mounted[@]}")
mount --bind /dev/pts "$ROOT/dev/pts" && mounted=("$ROOT/dev/pts" "${mounted[@]}")
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DEBIAN_FRONTEND=noninteractive /bin/bash -euxo pipefail -c "$1"; }

say "build the wheel (a development machine's job)"
rm -rf "$DIR/src" && mkdir -p "$DIR/src"
tar -C "$REPO" --exclude=.venv --exclude=.git --exclude=__pycache__ --exclude=.mypy_cache \
    --exclude=.ruff_cache --exclude=.pytest_cache --exclude=.hypothesis --exclude=dist -cf - . \
    | tar -C "$DIR/src" -xf -
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
(cd "$DIR/src" && "$PYTHON" -m pip wheel --no-deps -q -w dist .)
WHEEL=$(basename "$DIR"/src/dist/edged-*.whl)
VERSION=$(echo "$WHEEL" | cut -d- -f2)
mkdir -p "$ROOT/root/edged-$VERSION"
cp "$DIR/src/dist/$WHEEL" "$ROOT/root/edged-$VERSION/"
rm -rf "$ROOT/root/edged-$VERSION/systemd" && cp -r "$REPO/systemd" "$ROOT/root/edged-$VERSION/"
# The venue config for the check (a real site brings its own).
cat > "$ROOT/root/venue.toml" <<'EOF'
[site]
id = "wcp-main"
gateway = "gw-1"
timezone = "Europe/Berlin"
EOF

say "guide step 1: system packages (+ systemd, which a real Debian/Pi OS already has)"
in_root "apt-get update -qq
apt-get install -y -qq systemd >/dev/null
apt-get install -y python3 python3-venv python3-dev gcc ca-certificates procps >/dev/null
update-ca-certificates >/dev/null"

say "guide step 2: release venv"
in_root "VERSION=$VERSION; SRC=/root/edged-\$VERSION
install -d -m 0755 /opt/edged/releases
python3 -m venv /opt/edged/releases/\$VERSION
/opt/edged/releases/\$VERSION/bin/pip install -q --upgrade pip
/opt/edged/releases/\$VERSION/bin/pip install -q \"\$SRC/edged-\$VERSION-py3-none-any.whl[rpi]\"
ln -sfn releases/\$VERSION /opt/edged/venv
/opt/edged/venv/bin/edged --help >/dev/null"

say "guide step 3: account and directories"
in_root "SRC=/root/edged-$VERSION
install -D -m 0644 \$SRC/systemd/edged.sysusers /etc/sysusers.d/edged.conf
install -D -m 0644 \$SRC/systemd/edged.tmpfiles /etc/tmpfiles.d/edged.conf
systemd-sysusers edged.conf
systemd-tmpfiles --create edged.conf
id edge"

say "guide step 5: config (step 4, TLS files, has none to install here)"
in_root "install -d -m 0755 /etc/edge
install -m 0640 -o root -g edge /root/venue.toml /etc/edge/venue.toml
runuser -u edge -- /opt/edged/venv/bin/edgectl config check /etc/edge/venue.toml"

say "guide step 7: unit files, verify, enable (daemon-reload/--now need PID 1: done at boot)"
in_root "SRC=/root/edged-$VERSION
install -m 0644 \$SRC/systemd/edged.service          /etc/systemd/system/edged.service
install -m 0644 \$SRC/systemd/edged-cooldown.service /etc/systemd/system/edged-cooldown.service
test -z \"\$(systemd-analyze verify /etc/systemd/system/edged.service 2>&1)\"
systemctl enable edged"
for m in "${mounted[@]}"; do umount "$m"; done
mounted=()

say "boot the root with systemd as PID 1 (systemd-nspawn)"
systemd-nspawn --quiet --register=no --keep-unit --private-network -D "$ROOT" -b \
    --console=pipe > "$DIR/nspawn.log" 2>&1 &
NSPAWN_PID=$!
LEADER=""
for _ in $(seq 100); do
    LEADER=$(ps --ppid "$NSPAWN_PID" -o pid= | tr -d ' ' | head -1 || true)
    [[ -n $LEADER ]] && break
    sleep 0.2
done
C() { nsenter -t "$LEADER" -a "$@"; }
prop() { C systemctl show -p "$1" --value edged; }
wait_active() { for _ in $(seq 150); do [[ $(C systemctl is-active edged 2>/dev/null) == active ]] && return 0; sleep 0.2; done; return 1; }
check "edged active after boot" wait_active
check "STATUS= line reported" test -n "$(prop StatusText)"
echo "   StatusText=$(prop StatusText)"
echo "   $(C systemd-analyze security edged --no-pager | tail -1)"
PID=$(prop MainPID)
STATUS=$(C cat "/proc/$PID/status")
check "no capabilities" grep -q '^CapEff:[[:space:]]*0000000000000000' <<<"$STATUS"
check "no_new_privs" grep -q '^NoNewPrivs:[[:space:]]*1' <<<"$STATUS"
check "seccomp filter" grep -q '^Seccomp:[[:space:]]*2' <<<"$STATUS"
check "groups dialout+gpio" test "$(C id -nG edge | tr ' ' '\n' | sort | tr '\n' ' ')" = "dialout edge gpio "
check "socket 0660 edge:edge" test "$(C stat -c '%a %U:%G' /run/edged/edged.sock)" = "660 edge:edge"

say "reload (SIGHUP)"
C systemctl reload edged; sleep 1
check "config_reloaded logged" C sh -c 'journalctl -u edged -o cat | grep -q config_reloaded'

say "hung daemon: SIGSTOP the main process, expect watchdog kill + restart (~40 s)"
C kill -STOP "$(prop MainPID)"
sleep 42
check "watchdog timeout logged" C sh -c "journalctl -u edged -o cat | grep -q \"Failed with result 'watchdog'\""
check "restarted and active" wait_active
echo "   NRestarts=$(prop NRestarts)"

say "crash loop: SIGKILL after every start until systemd gives up"
for _ in $(seq 8); do
    [[ $(C systemctl is-active edged) == active ]] || break
    C systemctl kill -s SIGKILL edged
    sleep 6.5
done
check "start limit hit" C sh -c 'journalctl -u edged -o cat | grep -q "Start request repeated too quickly"'
check "edged failed" test "$(C systemctl is-failed edged)" = failed
check "cool-down running" test "$(C systemctl is-active edged-cooldown)" = activating

say "bad config: exit 78 is not restarted"
C systemctl stop edged-cooldown
C sh -c 'cp /etc/edge/venue.toml /root/good.toml; printf "[site]\nid = 1\n" > /etc/edge/venue.toml'
C systemctl reset-failed edged
C systemctl start edged || true
sleep 7
check "exit status 78" test "$(prop ExecMainStatus)" = 78
check "not restarted" test "$(prop NRestarts)" = 0
check "cool-down started for it" test "$(C systemctl is-active edged-cooldown)" = activating
C systemctl stop edged-cooldown
C sh -c 'cp /root/good.toml /etc/edge/venue.toml'
C systemctl reset-failed edged
C systemctl start edged

say "clean stop"
start_ns=$(date +%s%N)
C systemctl stop edged
stop_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
echo "   systemctl stop took ${stop_ms} ms"
check "stopped with status 0" test "$(prop ExecMainStatus)" = 0
check "stop within 5 s" test "$stop_ms" -lt 5000

say "result: $FAILS failed check(s)"
exit "$FAILS"
