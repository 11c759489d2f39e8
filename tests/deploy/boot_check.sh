#!/bin/bash
# End-to-end deployment check (manual, slow, root only; not part of the pytest run):
#   1. debootstrap a clean Debian bookworm into DIR (or reuse DIR if it already has one),
#   2. build the .deb and follow docs/install.md steps 1-3 inside it,
#   3. boot it with systemd-nspawn, so systemd 252 is PID 1 and runs the real unit,
#   4. check: READY/STATUS, sandbox of the running process, reload, watchdog restart of a
#      hung daemon, crash-loop rate limit + cool-down, exit 78 not restarted, clean stop.
# Usage: tests/deploy/boot_check.sh [DIR]   (default /tmp/edged-boot-check; about 3-4 min)
# Needs: debootstrap, systemd-container (systemd-nspawn), network to the Debian mirror/PyPI,
# the project's .venv (./run setup). tests/deploy/test_deb.py checks the install itself in CI.
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
# Site specifics, not part of the guide: name resolution for apt inside the root.
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
[[ -s $ROOT/etc/hosts ]] || printf '127.0.0.1 localhost\n::1 localhost\n' > "$ROOT/etc/hosts"

mount -t proc proc "$ROOT/proc" && mounted=("$ROOT/proc" "${mounted[@]}")
mount --bind /dev "$ROOT/dev" && mounted=("$ROOT/dev" "${mounted[@]}")
mount --bind /dev/pts "$ROOT/dev/pts" && mounted=("$ROOT/dev/pts" "${mounted[@]}")
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DEBIAN_FRONTEND=noninteractive /bin/bash -euxo pipefail -c "$1"; }

say "build the .deb (a development machine's job: ./run package)"
rm -rf "$DIR/dist"
"$REPO/packaging/build-deb" --out "$DIR/dist"
DEB=$(ls "$DIR"/dist/edged_*.deb)
cp "$DEB" "$ROOT/var/tmp/edged.deb"
# The venue config for the check (a real site brings its own).
cat > "$ROOT/root/venue.toml" <<'EOF2'
[site]
id = "wcp-main"
gateway = "gw-1"
timezone = "Europe/Berlin"
EOF2

say "install.md step 1: the package, with its Depends from apt"
in_root "apt-get update -qq
apt-get satisfy -y -qq '$(dpkg-deb -f "$DEB" Depends)' >/dev/null
dpkg -i /var/tmp/edged.deb
id edge"

say "install.md step 2: the config"
in_root "install -m 0640 -o root -g edge /root/venue.toml /etc/edge/venue.toml
runuser -u edge -- edgectl config check /etc/edge/venue.toml"

say "install.md step 3: verify, enable (--now needs PID 1: started at boot)"
in_root "test -z \"\$(systemd-analyze verify edged.service 2>&1)\"
systemctl enable edged"
for m in "${mounted[@]}"; do umount "$m"; done
mounted=()

say "boot the root with systemd as PID 1 (systemd-nspawn)"
systemd-nspawn --quiet --register=no --keep-unit --private-network -D "$ROOT" -b \
    --console=pipe > "$DIR/nspawn.log" 2>&1 &
NSPAWN_PID=$!
LEADER=""
for _ in $(seq 100); do
    # The container's PID 1 is systemd, a child of nspawn (or of its first child).
    LEADER=$(pgrep -x systemd -P "$NSPAWN_PID,$(pgrep -P "$NSPAWN_PID" | tr '\n' ,)0" | head -1 || true)
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
