#!/usr/bin/env bash
# deploy/stack.sh — the local keymgmt stack: a private PostgreSQL cluster, keymgmtd,
# nginx (running nginx.conf.example with local paths) and the AWS KMS emulator.
#
#   deploy/stack.sh up       start what is not running yet (twice is harmless)
#   deploy/stack.sh down     stop what `up` started (and only that)
#   deploy/stack.sh run      up, print how to use it, stay until Ctrl-C, then down
#   deploy/stack.sh status   show what runs
#
# Environment:
#   KEYMGMT_VAR            state directory (default: <repo>/var)
#   KEYMGMT_HTTP_PORT      nginx port on 127.0.0.1 (default 8200)
#   KEYMGMT_DATABASE_URL   use this database instead of the private cluster
#   KEYMGMT_EMULATOR_PORT  KMS emulator port on 127.0.0.1 (default 8400; 0: none)
#   KEYMGMT_BUILD          directory holding keymgmtd and keymgmtctl (default <repo>/build)
#   KEYMGMT_PG_FAST=1      fsync off in the private cluster (throwaway test clusters)
# Any other KEYMGMT_* variable reaches keymgmtd as configuration.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR=${KEYMGMT_VAR:-$ROOT/var}
PORT=${KEYMGMT_HTTP_PORT:-8200}
EMU_PORT=${KEYMGMT_EMULATOR_PORT:-8400}
BUILD=${KEYMGMT_BUILD:-$ROOT/build}
PGBIN=${KEYMGMT_PGBIN:-/usr/lib/postgresql/15/bin}
EMU_ACCESS_KEY=AKIDKEYMGMTLOCAL
EMU_SECRET_KEY=keymgmt-local-emulator-secret
EMU_REGION=us-east-1

RUN=$VAR/run
LOG=$VAR/log
CONF=$VAR/keymgmt.conf

say() { echo "stack: $*" >&2; }
die() { say "$*"; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # wait_for SECONDS CMD...
    local deadline=$((SECONDS + $1)); shift
    until "$@" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# The private cluster lives in $VAR/pg. When running as root and the postgres user
# cannot reach $VAR (a checkout under a private home), it lives in /var/tmp instead,
# with $VAR/pg a symlink to it.
pg_dir() {
    if [ -L "$VAR/pg" ] || [ -d "$VAR/pg" ]; then return; fi
    if is_root && ! runuser -u postgres -- test -x "$VAR" 2>/dev/null; then
        local real
        real=/var/tmp/keymgmt-pg-$(printf '%s' "$VAR" | sha256sum | cut -c1-12)
        mkdir -p "$real"
        ln -s "$real" "$VAR/pg"
        say "postgres cannot reach $VAR; cluster kept in $real"
    else
        mkdir -p "$VAR/pg"
    fi
    if is_root; then chown postgres:postgres "$VAR/pg/"; fi
}

pg_up() {
    if [ -n "${KEYMGMT_DATABASE_URL:-}" ]; then
        DB_URL=$KEYMGMT_DATABASE_URL
        return
    fi
    [ -x "$PGBIN/initdb" ] || die "PostgreSQL 15 not found in $PGBIN (run deploy/install-deps.sh)"
    pg_dir
    local data=$VAR/pg/data sock=$VAR/pg/run
    if [ ! -f "$data/PG_VERSION" ]; then
        as_pg "$PGBIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
            >"$VAR/pg/initdb.log" 2>&1 || die "initdb failed: see $VAR/pg/initdb.log"
    fi
    as_pg mkdir -p "$sock"
    if ! as_pg "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        local opts="-k $sock -c listen_addresses= -c max_connections=200"
        if [ "${KEYMGMT_PG_FAST:-0}" = 1 ]; then
            opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        fi
        as_pg "$PGBIN/pg_ctl" -D "$data" -l "$VAR/pg/postgresql.log" -o "$opts" -w -t 60 start \
            >/dev/null || die "PostgreSQL did not start: see $VAR/pg/postgresql.log"
        touch "$RUN/pg.started"
    fi
    if ! as_pg psql -h "$sock" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'keymgmt'" | grep -q 1; then
        as_pg "$PGBIN/../bin/createdb" -h "$sock" -U postgres keymgmt 2>/dev/null ||
            as_pg createdb -h "$sock" -U postgres keymgmt
    fi
    DB_URL="host=$sock dbname=keymgmt user=postgres"
}

write_config() {
    [ -s "$VAR/seal.key" ] || (umask 077 && "$BUILD/keymgmtctl" seal generate >"$VAR/seal.key.tmp" &&
        mv "$VAR/seal.key.tmp" "$VAR/seal.key")
    cat >"$CONF" <<CONF
# written by deploy/stack.sh
listen = $RUN/keymgmt.sock
listen_mode = 0660
pid_file = $RUN/keymgmtd.pid
database_url = $DB_URL
seal_key_file = $VAR/seal.key
allow_http_endpoints = true
CONF
}

keymgmtd_up() {
    "$BUILD/keymgmtctl" -c "$CONF" init 2>>"$LOG/keymgmtctl.log" || die "keymgmtctl init failed: see $LOG/keymgmtctl.log"
    if [ ! -s "$VAR/root-token" ]; then
        (umask 077 && "$BUILD/keymgmtctl" -c "$CONF" token create --policy root --display-name root \
            >"$VAR/root-token.tmp" 2>>"$LOG/keymgmtctl.log" && mv "$VAR/root-token.tmp" "$VAR/root-token") ||
            die "token creation failed: see $LOG/keymgmtctl.log"
    fi
    alive "$RUN/keymgmtd.pid" && return
    "$BUILD/keymgmtd" -t -c "$CONF" 2>>"$LOG/keymgmtd.log" || die "invalid keymgmtd configuration: see $LOG/keymgmtd.log"
    nohup "$BUILD/keymgmtd" -c "$CONF" >>"$LOG/keymgmtd.log" 2>&1 </dev/null &
    wait_for 15 test -S "$RUN/keymgmt.sock" || die "keymgmtd did not start: see $LOG/keymgmtd.log"
    wait_for 5 alive "$RUN/keymgmtd.pid" || die "keymgmtd did not start: see $LOG/keymgmtd.log"
}

nginx_conf() {
    local user_line=""
    if is_root; then user_line="user $(id -un) $(id -gn);"; fi
    sed -e "s|^user www-data;|$user_line|" \
        -e "s|/run/nginx.pid|$RUN/nginx.pid|" \
        -e "s|/var/log/nginx/|$LOG/|g" \
        -e "s|/var/lib/nginx/|$VAR/nginx/|g" \
        -e "s|listen 127.0.0.1:8200;|listen 127.0.0.1:$PORT;|" \
        -e "s|unix:/run/keymgmt/keymgmt.sock|unix:$RUN/keymgmt.sock|" \
        -e "s|^worker_processes auto;|worker_processes 2;|" \
        "$ROOT/nginx.conf.example" >"$VAR/nginx.conf"
}

nginx_up() {
    alive "$RUN/nginx.pid" && return
    mkdir -p "$VAR/nginx"
    nginx_conf
    nginx -q -t -c "$VAR/nginx.conf" -e "$LOG/nginx-error.log" 2>>"$LOG/nginx-error.log" ||
        die "nginx configuration invalid: see $LOG/nginx-error.log"
    nginx -c "$VAR/nginx.conf" -e "$LOG/nginx-error.log" || die "nginx did not start: see $LOG/nginx-error.log"
    wait_for 10 curl -fsS -o /dev/null "http://127.0.0.1:$PORT/v1/sys/health" ||
        die "keymgmt does not answer on 127.0.0.1:$PORT: see $LOG/"
}

emulator_up() {
    [ "$EMU_PORT" != 0 ] || return 0
    local emu=$ROOT/tests/kms_emulator/kms_emulator.py
    [ -f "$emu" ] || return 0
    alive "$RUN/emulator.pid" && return
    nohup /usr/bin/python3 "$emu" --port "$EMU_PORT" --access-key "$EMU_ACCESS_KEY" \
        --secret-key "$EMU_SECRET_KEY" --region "$EMU_REGION" >>"$LOG/emulator.log" 2>&1 </dev/null &
    echo $! >"$RUN/emulator.pid"
    wait_for 15 grep -q "listening" "$LOG/emulator.log" || die "KMS emulator did not start: see $LOG/emulator.log"
}

stop_pid() { # stop_pid PIDFILE SIGNAL SECONDS
    local f=$1 pid
    alive "$f" || { rm -f "$f"; return 0; }
    pid=$(cat "$f")
    kill "-$2" "$pid" 2>/dev/null || true
    wait_for "$3" sh -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
}

up() {
    [ -x "$BUILD/keymgmtd" ] || die "build first (make)"
    mkdir -p "$VAR" "$RUN" "$LOG"
    chmod 755 "$VAR"
    pg_up
    write_config
    keymgmtd_up
    nginx_up
    emulator_up
}

down() {
    stop_pid "$RUN/nginx.pid" QUIT 10
    stop_pid "$RUN/emulator.pid" TERM 10
    stop_pid "$RUN/keymgmtd.pid" TERM 40
    if [ -f "$RUN/pg.started" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$VAR/pg/data" -m fast -w stop >/dev/null 2>&1 || true
        rm -f "$RUN/pg.started"
    fi
}

status() {
    for c in keymgmtd nginx emulator; do
        if alive "$RUN/$c.pid"; then echo "$c: running (pid $(cat "$RUN/$c.pid"))"; else echo "$c: stopped"; fi
    done
    if [ -f "$RUN/pg.started" ]; then echo "postgresql: private cluster in $VAR/pg"; else echo "postgresql: not started by the stack"; fi
}

banner() {
    cat <<EOT

keymgmt is up on http://127.0.0.1:$PORT

    export VAULT_ADDR=http://127.0.0.1:$PORT
    export VAULT_TOKEN=$(cat "$VAR/root-token")

The root token is also in $VAR/root-token; logs are in $LOG/.
EOT
    if alive "$RUN/emulator.pid"; then
        cat <<EOT
AWS KMS emulator: http://127.0.0.1:$EMU_PORT (region $EMU_REGION,
access key $EMU_ACCESS_KEY, secret key $EMU_SECRET_KEY)
EOT
    fi
}

case "${1:-}" in
    up) up; banner ;;
    down) down ;;
    status) status ;;
    run)
        trap 'echo; down; exit 0' INT TERM
        up
        banner
        echo "Ctrl-C stops everything."
        while true; do sleep 3600 & wait $!; done
        ;;
    *) echo "usage: $0 up|down|run|status" >&2; exit 2 ;;
esac
