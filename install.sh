#!/usr/bin/env bash
# rxpool installer for a fresh Debian 12 / Ubuntu 22.04+ host.
#
#   ./install.sh sandbox [ARGS]  install what is missing, build, and run `rxpool sandbox ARGS`:
#                                a whole pool on a local regtest chain with a demo miner
#   ./install.sh          as root: install and configure a whole pool host (idempotent)
#   ./install.sh test     install only what the test suite needs, then run all of it
#   ./install.sh help
#
# Every mode can be re-run safely: packages, users, databases, certificates and config files
# that already exist are kept (config.toml and the MySQL password are never overwritten).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
REPO=$(pwd)

PREFIX=${PREFIX:-/usr/local}
ETC=${RXPOOL_ETC:-/etc/rxpool}
STATE=${RXPOOL_STATE:-/var/lib/rxpool}
SYSTEMD_DIR=${SYSTEMD_DIR:-/etc/systemd/system}
DB_NAME=${RXPOOL_DB_NAME:-rxpool}
DB_USER=${RXPOOL_DB_USER:-rxpool}
MIN_RUST=1.89

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# --- packages ------------------------------------------------------------------------------

APT_UPDATED=0
# apt_install PKG... : installs the packages not installed yet (no apt at all when none).
apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    is_root || die "missing packages: ${missing[*]} (re-run as root, or: sudo apt-get install ${missing[*]})"
    command -v apt-get >/dev/null || die "apt-get not found: this installer supports Debian and Ubuntu"
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        apt-get update -qq
        APT_UPDATED=1
    fi
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The server binaries without the system service where the distribution splits them
# (tests start their own mariadbd; they never use a system server).
install_mariadb_binaries() {
    if command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ]; then
        command -v mariadb-install-db >/dev/null && return 0
    fi
    if apt-cache show mariadb-server-core >/dev/null 2>&1; then
        apt_install mariadb-server-core
    else
        apt_install mariadb-server
    fi
}

BUILD_PACKAGES=(build-essential cmake pkg-config ca-certificates curl)

install_aiosmtpd() {
    python3 -c 'import aiosmtpd' 2>/dev/null && return 0
    log "installing aiosmtpd (python)"
    if is_root && apt-cache show python3-aiosmtpd >/dev/null 2>&1; then
        apt_install python3-aiosmtpd
        python3 -c 'import aiosmtpd' 2>/dev/null && return 0
        # The python3 on PATH is not Debian's (pyenv, a virtualenv): it does not see Debian's
        # packages, so it gets its own copy below.
    fi
    python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    python3 -m pip install --user aiosmtpd 2>/dev/null \
        || python3 -m pip install aiosmtpd 2>/dev/null \
        || python3 -m pip install --break-system-packages aiosmtpd
    python3 -c 'import aiosmtpd' || die "aiosmtpd still not importable by $(command -v python3)"
}

# --- Rust ------------------------------------------------------------------------------------

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

ensure_cargo() {
    if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null; then
        log "no Rust toolchain found; trying rustup (https://sh.rustup.rs)"
        if curl --proto '=https' --tlsv1.2 -fsS --max-time 60 https://sh.rustup.rs \
            | sh -s -- -y --profile minimal --default-toolchain stable >/dev/null 2>&1; then
            export PATH="$HOME/.cargo/bin:$PATH"
        fi
    fi
    command -v cargo >/dev/null || die "no Rust toolchain (cargo) found and rustup could not be
downloaded. Install Rust >= $MIN_RUST (https://rustup.rs, or your distribution's rustc/cargo
if recent enough), make sure 'cargo' is on PATH, and run this script again."
    local have
    have=$(rustc --version | awk '{print $2}')
    version_ge "$have" "$MIN_RUST" || die "rustc $have is too old: rxpool needs >= $MIN_RUST (rustup update)"
}

# What both the sandbox and the tests start on their own: the build tools, MariaDB's server
# binaries (never a system service), monerod and monero-wallet-rpc.
install_devnet_packages() {
    apt_install "${BUILD_PACKAGES[@]}"
    install_mariadb_binaries
    command -v monerod >/dev/null && command -v monero-wallet-rpc >/dev/null || apt_install monero
}

# --- sandbox mode ----------------------------------------------------------------------------

run_sandbox() {
    log "sandbox dependencies"
    install_devnet_packages
    ensure_cargo
    for tool in monerod monero-wallet-rpc mariadb-install-db cmake; do
        command -v "$tool" >/dev/null || die "$tool not on PATH after installing"
    done
    log "cargo build --release --locked"
    cargo build --release --locked
    # Everything it starts (MariaDB, monerod, wallets) binds 127.0.0.1 on free ports in a temp
    # dir (or --keep DIR); Ctrl-C stops it all. A system MariaDB or monerod is never touched.
    log "target/release/rxpool sandbox $*"
    exec "$REPO/target/release/rxpool" sandbox "$@"
}

# --- test mode -------------------------------------------------------------------------------

run_tests() {
    log "test dependencies"
    install_devnet_packages
    apt_install python3
    install_aiosmtpd
    # The browser tests (tests/api_browser.rs, tests/dashboard*.rs) drive Debian's headless
    # Chromium, the dashboard tests over WebDriver through its chromedriver.
    command -v chromium >/dev/null || apt_install chromium
    command -v chromedriver >/dev/null || apt_install chromium-driver
    ensure_cargo
    for tool in monerod monero-wallet-rpc mariadb-install-db cmake python3 chromium chromedriver; do
        command -v "$tool" >/dev/null || die "$tool not on PATH after installing"
    done
    # Benchmarks are compiled (so they cannot rot) but not run: they measure, they do not test,
    # and fast-mode RandomX alone takes a minute. Run them with `cargo bench --locked`.
    # They are compiled with the test profile so they share its dependency builds; no
    # incremental cache either: a one-shot build gains nothing from it and it costs disk.
    export CARGO_INCREMENTAL=0
    log "cargo test --locked --benches --no-run"
    cargo test --locked --benches --no-run
    log "cargo test --locked (the whole suite)"
    # Tests start their own MariaDB, monerod, wallet-rpc and SMTP on free loopback ports;
    # a system MariaDB on :3306 is never touched.
    exec cargo test --locked
}

# --- install mode ----------------------------------------------------------------------------

have_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

random_secret() { openssl rand -hex 24; }

mysql_root() { mariadb --protocol=socket -uroot "$@"; }

setup_database() {
    local password_file="$ETC/mysql-password" password
    if [ -s "$password_file" ]; then
        password=$(cat "$password_file")
    else
        password=$(random_secret)
        (umask 077 && printf '%s\n' "$password" >"$password_file")
    fi
    if have_systemd; then
        systemctl enable --now mariadb >/dev/null
    elif ! mysql_root -e 'SELECT 1' >/dev/null 2>&1; then
        service mariadb start >/dev/null 2>&1 || service mysql start >/dev/null 2>&1 \
            || die "MariaDB is not running and could not be started"
    fi
    log "MySQL database '$DB_NAME' and user '$DB_USER'"
    mysql_root <<SQL
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$password';
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$password';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'localhost';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
    MYSQL_URL="mysql://$DB_USER:$password@127.0.0.1:3306/$DB_NAME"
}

write_config() {
    local config="$ETC/config.toml"
    if [ -e "$config" ]; then
        log "keeping existing $config"
        return 0
    fi
    log "writing $config"
    local tmp
    tmp=$(mktemp "$ETC/.config.toml.XXXXXX")
    if [ -f "$REPO/config.toml.example" ]; then
        # Same file, with this host's MySQL URL and LMDB path filled in.
        awk -v url="$MYSQL_URL" -v lmdb="$STATE/lmdb" -v tls="$ETC/tls" '
            /^\[/ { section = $0 }
            section == "[mysql]" && /^url[ \t]*=/ && !m { print "url = \"" url "\""; m = 1; next }
            section == "[lmdb]" && /^path[ \t]*=/ && !l { print "path = \"" lmdb "\""; l = 1; next }
            section == "[tls]" && /^cert[ \t]*=/ { print "cert = \"" tls "/cert.pem\""; next }
            section == "[tls]" && /^key[ \t]*=/ { print "key = \"" tls "/key.pem\""; next }
            { print }' "$REPO/config.toml.example" >"$tmp"
        grep -q '^\[tls\]' "$tmp" || printf '[tls]\ncert = "%s/cert.pem"\nkey = "%s/key.pem"\n' \
            "$ETC/tls" "$ETC/tls" >>"$tmp"
    else
        # The contract keys (design.md §1); every other key has a default.
        cat >"$tmp" <<TOML
[mysql]
url = "$MYSQL_URL"
[lmdb]
path = "$STATE/lmdb"
[daemon]
urls = ["http://127.0.0.1:18081"]
[wallet]
url = "http://127.0.0.1:18082"
[pool]
bind = "0.0.0.0"
pool_id = 1
hostname = "$(hostname -f 2>/dev/null || hostname)"
[pow]
randomx_mode = "auto"
[api]
bind = "127.0.0.1:8001"
[tls]
cert = "$ETC/tls/cert.pem"
key = "$ETC/tls/key.pem"
TOML
    fi
    chown root:rxpool "$tmp"
    chmod 0640 "$tmp"
    mv "$tmp" "$config"
}

make_tls_cert() {
    local dir="$ETC/tls"
    install -d -m 0750 -o root -g rxpool "$dir"
    if [ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ]; then
        return 0
    fi
    log "self-signed TLS certificate in $dir (replace with a real one for public TLS ports)"
    openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -sha256 \
        -subj "/CN=$(hostname -f 2>/dev/null || hostname)" \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1
    chown root:rxpool "$dir/key.pem" "$dir/cert.pem"
    chmod 0640 "$dir/key.pem"
    chmod 0644 "$dir/cert.pem"
}

install_units() {
    local unit
    for unit in deployment/*.service deployment/*.target; do
        [ -e "$unit" ] || continue
        install -m 0644 "$unit" "$SYSTEMD_DIR/$(basename "$unit")"
    done
    if ! have_systemd; then
        warn "systemd is not running here: units copied to $SYSTEMD_DIR but not enabled"
        return 0
    fi
    systemctl daemon-reload
    systemctl enable rxpool.target rxpool-pool.service rxpool-block-manager.service \
        rxpool-payments.service rxpool-worker.service rxpool-api.service \
        rxpool-cleaner.service >/dev/null
    log "enabled rxpool.target and its roles: pool, block-manager, payments, worker, api, cleaner (not started: see the next steps below)"
}

install_pool() {
    is_root || die "run as root (or use './install.sh test' to only run the tests)"
    log "packages"
    apt_install "${BUILD_PACKAGES[@]}" mariadb-server mariadb-client monero openssl
    ensure_cargo

    log "cargo build --release --locked"
    cargo build --release --locked
    install -m 0755 target/release/rxpool "$PREFIX/bin/rxpool"

    if ! id rxpool >/dev/null 2>&1; then
        log "system user rxpool"
        useradd --system --home-dir "$STATE" --shell /usr/sbin/nologin rxpool
    fi
    install -d -m 0750 -o root -g rxpool "$ETC"
    install -d -m 0750 -o rxpool -g rxpool "$STATE" "$STATE/lmdb"

    setup_database
    write_config
    make_tls_cert

    log "rxpool migrate"
    runuser -u rxpool -- "$PREFIX/bin/rxpool" --config "$ETC/config.toml" migrate

    install_units
    cat <<EOF

rxpool is installed. Next steps:
  1. Run monerod and monero-wallet-rpc (examples: deployment/monerod.service,
     deployment/monero-wallet-rpc.service; copy them to $SYSTEMD_DIR and enable).
  2. Edit $ETC/config.toml (hostname, pool_id, daemon and wallet URLs, TLS paths:
     $ETC/tls/cert.pem and key.pem).
  3. Set the shared settings, for example:
       rxpool --config $ETC/config.toml admin config set pool.address YOUR_POOL_WALLET
       rxpool --config $ETC/config.toml admin config set payout.feeAddress YOUR_FEE_WALLET
       rxpool --config $ETC/config.toml admin port add 3333 --diff 10000 --type pplns
  4. systemctl start rxpool.target   (logs: journalctl -u 'rxpool-*' -f)
EOF
}

case "${1:-install}" in
    install) install_pool ;;
    test) run_tests ;;
    sandbox) shift; run_sandbox "$@" ;;
    help | -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1' (try: ./install.sh help)" ;;
esac
