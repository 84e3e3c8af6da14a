#!/usr/bin/env bash
# rxpool installer for a fresh Debian 12 / Ubuntu 22.04+ host.
#
#   ./install.sh sandbox [ARGS]  install what is missing, build, and run `rxpool sandbox ARGS`:
#                                a whole pool on a local regtest chain with a demo miner
#   ./install.sh          as root: install and configure a whole pool host (idempotent); at
#                         the end it prints what is left to do, in order
#   ./install.sh central  the same, plus nats-server for several pool hosts (README "Several
#                         pool hosts"): a generated password per pool host, a self-signed TLS
#                         certificate, nats-server and rxpool-ingest enabled
#   ./install.sh pool-host  a stratum-only host feeding the central host through NATS: no
#                         MariaDB, no LMDB, only rxpool-pool (and monerod's unit)
#   ./install.sh check-monerod [PATH]  is this monerod new enough for the current network?
#   ./install.sh download-monero  only fetch and verify the official release (MONERO_DOWNLOAD)
#   ./install.sh test     install only what the test suite needs, then run all of it
#   ./install.sh help
#
# Every mode can be re-run safely: packages, users, databases, certificates and config files
# that already exist are kept (config.toml and the MySQL password are never overwritten), and a
# file whose content has not changed is not written again.
#
# Install mode reads these variables (defaults in brackets; README "Production install"):
#   PREFIX [/usr/local]  RXPOOL_ETC [/etc/rxpool]  RXPOOL_STATE [/var/lib/rxpool]
#   SYSTEMD_DIR [/etc/systemd/system]  RXPOOL_DB_NAME, RXPOOL_DB_USER [rxpool]
#   RXPOOL_BIN        a built rxpool binary to install (no Rust toolchain, no cargo build)
#   RXPOOL_USER, MONERO_USER, MONERO_WALLET_USER [rxpool, monero, monero-wallet]: created
#                     when missing (as root); an existing user is used as it is, e.g.
#                     RXPOOL_USER=$(id -un) runs everything as you, without root
#   RXPOOL_MYSQL_ADMIN  the command that runs SQL as a MySQL administrator [the local
#                     MariaDB's root over its socket, started if need be], e.g.
#                     "mariadb --no-defaults --socket=/path/mysqld.sock -uroot"
#   RXPOOL_DB_PORT [3306]  the MariaDB port (on 127.0.0.1) written into config.toml
#   RXPOOL_HOSTNAME [hostname -f]  the [pool] hostname written into config.toml
#   MONEROD_BIN, MONERO_WALLET_RPC_BIN, MONERO_WALLET_CLI_BIN [from PATH, else /usr/bin]
#   MONERO_DOWNLOAD=1 fetch the official release archive from downloads.getmonero.org, check
#                     it against the GPG-signed hashes.txt, and use it (opt-in, never silently)
#   MONERO_UNITS=enable  also enable monerod.service and monero-wallet-rpc.service
#   MONERO_STATE [/var/lib/monero]  MONERO_WALLET_STATE [/var/lib/monero-wallet]
#   MONERO_WALLET_ETC [/etc/monero-wallet]
# central also reads:
#   RXPOOL_POOL_HOSTS  the pool hosts, "NAME[:POOL_ID] ...", e.g. "eu us:7": one NATS user and
#                     password each, allowed to publish only as that pool_id [2, 3, ... in
#                     order; this host is pool_id 1]
#   NATS_ETC [/etc/nats-server]  NATS_STATE [/var/lib/nats]  NATS_USER [nats]
#   NATS_SERVER_BIN [from PATH, else /usr/sbin/nats-server]
# pool-host reads (the central host's closing list prints the values):
#   RXPOOL_POOL_ID    this host's pool_id, as the central host's RXPOOL_POOL_HOSTS gave it
#   RXPOOL_MYSQL_URL  mysql://USER:PASSWORD@CENTRAL:3306/DB, the central host's MariaDB
#   RXPOOL_NATS_URL   tls://CENTRAL:4222   RXPOOL_NATS_USER  this host's NATS user
#   RXPOOL_NATS_PASSWORD_FILE  a file holding its password (copied from the central host)
#   RXPOOL_NATS_CA    the central host's NATS certificate (its server.pem), to verify TLS
set -euo pipefail

# Paths given relative to where the script was started from stay so after the cd below.
absolute() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
RXPOOL_BIN=${RXPOOL_BIN:+$(absolute "$RXPOOL_BIN")}
MONEROD_BIN=${MONEROD_BIN:+$(absolute "$MONEROD_BIN")}
MONERO_WALLET_RPC_BIN=${MONERO_WALLET_RPC_BIN:+$(absolute "$MONERO_WALLET_RPC_BIN")}
MONERO_WALLET_CLI_BIN=${MONERO_WALLET_CLI_BIN:+$(absolute "$MONERO_WALLET_CLI_BIN")}
CHECK_ARG=${2:+$(absolute "$2")}
NATS_PASSWORD_FILE=${RXPOOL_NATS_PASSWORD_FILE:+$(absolute "$RXPOOL_NATS_PASSWORD_FILE")}
NATS_CA=${RXPOOL_NATS_CA:+$(absolute "$RXPOOL_NATS_CA")}

cd "$(dirname "${BASH_SOURCE[0]}")"
REPO=$(pwd)

PREFIX=${PREFIX:-/usr/local}
ETC=${RXPOOL_ETC:-/etc/rxpool}
STATE=${RXPOOL_STATE:-/var/lib/rxpool}
SYSTEMD_DIR=${SYSTEMD_DIR:-/etc/systemd/system}
DB_NAME=${RXPOOL_DB_NAME:-rxpool}
DB_USER=${RXPOOL_DB_USER:-rxpool}
DB_PORT=${RXPOOL_DB_PORT:-3306}
POOL_USER=${RXPOOL_USER:-rxpool}
MONERO_USER=${MONERO_USER:-monero}
WALLET_USER=${MONERO_WALLET_USER:-monero-wallet}
MONERO_STATE=${MONERO_STATE:-/var/lib/monero}
WALLET_STATE=${MONERO_WALLET_STATE:-/var/lib/monero-wallet}
WALLET_ETC=${MONERO_WALLET_ETC:-/etc/monero-wallet}
NATS_ETC=${NATS_ETC:-/etc/nats-server}
NATS_STATE=${NATS_STATE:-/var/lib/nats}
NATS_USER=${NATS_USER:-nats}
NATS_SERVER_BIN=${NATS_SERVER_BIN:-$(PATH="$PATH:/usr/sbin" command -v nats-server || echo /usr/sbin/nats-server)}
DOC_DIR=$PREFIX/share/doc/rxpool
MIN_RUST=1.89

if [ -t 1 ]; then
    log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
    warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
    die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }
else
    log() { printf '==> %s\n' "$*"; }
    warn() { printf 'warning: %s\n' "$*" >&2; }
    die() { printf 'error: %s\n' "$*" >&2; exit 1; }
fi

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
    # tests/installer.rs signs and unpacks a local stand-in for the monero release download.
    command -v gpg >/dev/null || apt_install gnupg
    command -v bzip2 >/dev/null || apt_install bzip2
    # tests/feed.rs and tests/ingest_pools.rs start their own JetStream server (never one on
    # :4222); Debian installs it in /usr/sbin.
    export PATH="$PATH:/usr/sbin"
    command -v nats-server >/dev/null || apt_install nats-server
    ensure_cargo
    for tool in monerod monero-wallet-rpc mariadb-install-db cmake python3 chromium chromedriver \
        nats-server; do
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
    # Tests start their own MariaDB, monerod, wallet-rpc, SMTP and NATS on free loopback ports;
    # a system MariaDB on :3306 is never touched.
    exec cargo test --locked
}

# --- monerod version -------------------------------------------------------------------------

# The oldest monerod that follows the current mainnet. The last hard fork (v16: ring size 16,
# view tags, Bulletproofs+) came with 0.18.0.0 in July 2022 and every 0.18 release speaks it,
# but two later releases fixed how a node follows the chain (getmonero.org release notes of
# 2023-10-07 and 2025-04-05):
#   0.18.3.1  "fix a bug with the long-term block weight cache" (monero-project/monero#9013,
#             #9014): a node that had refreshed the cache stored other long-term block weights
#             than one that had not, and those set the block weight median and the penalty.
#   0.18.4.0  "fix temp fails causing alt blocks to be permanently invalid" (#9400): after a
#             temporary failure a node could refuse the heavier chain for good, leaving a pool
#             mining on a losing fork; it also fixed a remote P2P crash and a remote RPC crash.
# Debian 12's `monero` package is 0.18.0.0.
MONEROD_MIN=0.18.4.0

# Where the official release archive and its GPG-signed SHA-256 list come from, and the key
# that signs the list (binaryFate's, as getmonero.org's verification guide gives it).
MONERO_HASHES_URL=${MONERO_HASHES_URL:-https://www.getmonero.org/downloads/hashes.txt}
MONERO_DOWNLOADS=${MONERO_DOWNLOADS:-https://downloads.getmonero.org/cli}
MONERO_KEY_URL=${MONERO_KEY_URL:-https://raw.githubusercontent.com/monero-project/monero/master/utils/gpg_keys/binaryfate.asc}
MONERO_KEY_FINGERPRINT=${MONERO_KEY_FINGERPRINT:-81AC591FE9C4B65C5806AFC3F0AF4D462A0BDF92}

# monerod_version BIN: the version BIN reports ("Monero 'Fluorine Fermi' (v0.18.4.0-release)"
# gives 0.18.4.0); nothing when it reports none.
monerod_version() {
    { "$1" --version 2>/dev/null || true; } | grep -oE 'v[0-9]+\.[0-9]+\.[0-9]+(\.[0-9]+)?' \
        | head -n1 | sed 's/^v//'
}

# check_monerod BIN: says on stdout whether BIN is at least MONEROD_MIN; returns 0 when it is,
# 1 when it is older, 2 when it cannot be run or prints no version.
check_monerod() {
    local bin=$1 version
    if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
        echo "$bin: no such executable"
        return 2
    fi
    version=$(monerod_version "$bin")
    if [ -z "$version" ]; then
        echo "$bin --version printed no version (expected e.g. \"Monero 'Fluorine Fermi' (v$MONEROD_MIN-release)\")"
        return 2
    fi
    if version_ge "$version" "$MONEROD_MIN"; then
        echo "$bin is $version: ok (the oldest that follows the current network is $MONEROD_MIN)"
        return 0
    fi
    echo "$bin is $version, older than $MONEROD_MIN, the oldest release that follows the current network reliably"
    return 1
}

MONEROD_ADVICE="use a newer monerod: either MONEROD_BIN=/path/to/monerod ./install.sh (monero-wallet-rpc and monero-wallet-cli from the same directory), or MONERO_DOWNLOAD=1 ./install.sh to fetch the official release from downloads.getmonero.org, checked against the SHA-256 list signed by binaryFate"

# `./install.sh download-monero`: only the MONERO_DOWNLOAD step, then the version check.
run_download_monero() {
    download_monero
    check_monerod "$MONEROD_BIN"
}

run_check_monerod() {
    local bin=${CHECK_ARG:-$(command -v monerod || echo /usr/bin/monerod)} rc=0
    check_monerod "$bin" || rc=$?
    [ "$rc" -eq 0 ] || echo "To fix: $MONEROD_ADVICE."
    exit "$rc"
}

# The monerod, monero-wallet-rpc and monero-wallet-cli the units and the next steps name:
# the variables when set, else beside MONEROD_BIN, else from PATH, else Debian's /usr/bin.
resolve_monero_bins() {
    MONEROD_BIN=${MONEROD_BIN:-$(command -v monerod || echo /usr/bin/monerod)}
    local dir name var
    dir=$(dirname "$MONEROD_BIN")
    for name in monero-wallet-rpc monero-wallet-cli; do
        var=MONERO_WALLET_${name#monero-wallet-}_BIN
        var=${var^^}
        [ -n "${!var:-}" ] && continue
        if [ -x "$dir/$name" ]; then
            printf -v "$var" '%s' "$dir/$name"
        else
            printf -v "$var" '%s' "$(command -v "$name" || echo "/usr/bin/$name")"
        fi
    done
}

# MONERO_DOWNLOAD=1: the current release for this machine from downloads.getmonero.org into
# $PREFIX/lib/monero/vVERSION, only when hashes.txt carries binaryFate's good signature and
# the archive matches its SHA-256 there. A version already unpacked is not fetched again.
download_monero() {
    local arch line sha file version dest tmp
    case "$(uname -m)" in
        x86_64) arch=linux-x64 ;;
        aarch64) arch=linux-armv8 ;;
        armv7l) arch=linux-armv7 ;;
        riscv64) arch=linux-riscv64 ;;
        *) die "MONERO_DOWNLOAD: no official monero release for $(uname -m); set MONEROD_BIN" ;;
    esac
    local tools=()
    command -v gpg >/dev/null || tools+=(gnupg)
    command -v curl >/dev/null || tools+=(curl)
    command -v bzip2 >/dev/null || tools+=(bzip2)
    [ "${#tools[@]}" -eq 0 ] || apt_install "${tools[@]}"
    tmp=$(mktemp -d)
    DOWNLOAD_TMP=$tmp
    trap 'GNUPGHOME="$DOWNLOAD_TMP/gnupg" gpgconf --kill all >/dev/null 2>&1; rm -rf "$DOWNLOAD_TMP"' EXIT
    log "MONERO_DOWNLOAD: $MONERO_HASHES_URL and its signing key"
    curl -fsSL --max-time 120 "$MONERO_HASHES_URL" -o "$tmp/hashes.txt" \
        || die "could not download $MONERO_HASHES_URL (set MONEROD_BIN to a monerod you provide)"
    curl -fsSL --max-time 120 "$MONERO_KEY_URL" -o "$tmp/signer.asc" \
        || die "could not download the signing key $MONERO_KEY_URL"
    mkdir -m 0700 "$tmp/gnupg"
    GNUPGHOME="$tmp/gnupg" gpg --batch --quiet --import "$tmp/signer.asc" 2>/dev/null \
        || die "$MONERO_KEY_URL is not a GPG key"
    GNUPGHOME="$tmp/gnupg" gpg --batch --with-colons --fingerprint 2>/dev/null \
        | grep -q "^fpr:*$MONERO_KEY_FINGERPRINT:" \
        || die "the key from $MONERO_KEY_URL is not $MONERO_KEY_FINGERPRINT: nothing downloaded"
    GNUPGHOME="$tmp/gnupg" gpg --batch --status-fd 1 --verify "$tmp/hashes.txt" 2>/dev/null \
        | grep -q "^\[GNUPG:\] VALIDSIG .*$MONERO_KEY_FINGERPRINT" \
        || die "$MONERO_HASHES_URL has no good signature by $MONERO_KEY_FINGERPRINT: nothing downloaded"
    line=$(grep -E "^[0-9a-f]{64}  monero-$arch-v[0-9.]+\.tar\.bz2\$" "$tmp/hashes.txt" | head -n1) \
        || die "$MONERO_HASHES_URL lists no monero-$arch release"
    sha=${line%% *}
    file=${line##* }
    version=${file#monero-"$arch"-v}
    version=${version%.tar.bz2}
    dest=$PREFIX/lib/monero/v$version
    if [ -x "$dest/monerod" ]; then
        log "monero v$version already in $dest"
    else
        log "downloading $MONERO_DOWNLOADS/$file"
        curl -fSL --max-time 1800 "$MONERO_DOWNLOADS/$file" -o "$tmp/$file" \
            || die "could not download $MONERO_DOWNLOADS/$file"
        printf '%s  %s\n' "$sha" "$tmp/$file" | sha256sum -c --status - \
            || die "$file does not match its published SHA-256 $sha: not installed"
        log "$file matches its published SHA-256; unpacking into $dest"
        rm -rf "$dest.partial"
        mkdir -p "$dest.partial"
        tar -xjf "$tmp/$file" -C "$dest.partial" --strip-components=1 --no-same-owner
        mv "$dest.partial" "$dest"
    fi
    MONEROD_BIN=$dest/monerod
    MONERO_WALLET_RPC_BIN=$dest/monero-wallet-rpc
    MONERO_WALLET_CLI_BIN=$dest/monero-wallet-cli
}

# --- install mode ----------------------------------------------------------------------------

ME=$(id -un)
MYSQL_ADMIN=${RXPOOL_MYSQL_ADMIN:-}
HOST_NAME=${RXPOOL_HOSTNAME:-$(hostname -f 2>/dev/null || hostname)}

random_secret() { openssl rand -hex 24; }

# The MySQL administrator: RXPOOL_MYSQL_ADMIN (split on spaces), else the local root.
mysql_admin() {
    if [ -n "$MYSQL_ADMIN" ]; then
        # shellcheck disable=SC2086 # a command line given as one string
        $MYSQL_ADMIN "$@"
    else
        mariadb --protocol=socket -uroot "$@"
    fi
}

# own USER:GROUP PATH...: as root, sets the owner; otherwise everything is the caller's already.
own() { if is_root; then chown "$@"; fi; }

# make_dir MODE USER:GROUP DIR...
make_dir() {
    local mode=$1 owner=$2
    shift 2
    install -d -m "$mode" "$@"
    own "$owner" "$@"
}

# put_file SRC DEST MODE USER:GROUP: writes DEST only when its content differs, so a re-run
# changes nothing; mode and owner are set either way.
put_file() {
    if ! cmp -s "$1" "$2"; then
        install -m "$3" "$1" "$2"
        log "installed $2"
    fi
    chmod "$3" "$2"
    own "$4" "$2"
}

# The prefix that runs a command as USER (none when that is the caller).
as_prefix() { if [ "$1" = "$ME" ]; then printf ''; else printf 'runuser -u %s -- ' "$1"; fi; }
as_user() {
    local user=$1
    shift
    if [ "$user" = "$ME" ]; then "$@"; else runuser -u "$user" -- "$@"; fi
}

ensure_user() {
    local name=$1 home=$2
    id "$name" >/dev/null 2>&1 && return 0
    is_root || die "user $name does not exist, and only root can create it"
    log "system user $name"
    local group=(--user-group)
    getent group "$name" >/dev/null && group=(-g "$name")
    useradd --system "${group[@]}" --home-dir "$home" --shell /usr/sbin/nologin "$name"
}

# Everything the variables put into SQL, config.toml and unit files, checked before anything is
# written: names and paths of plain characters only (no quotes, spaces or newlines).
validate_settings() {
    local pair name var value
    for pair in RXPOOL_DB_NAME:DB_NAME RXPOOL_DB_USER:DB_USER; do
        name=${pair%%:*}
        var=${pair#*:}
        value=${!var}
        [[ $value =~ ^[A-Za-z0-9_]{1,64}$ ]] \
            || die "$name='$value': use 1 to 64 letters, digits and _ (it goes into SQL)"
    done
    [[ $DB_PORT =~ ^[0-9]{1,5}$ ]] && [ "$DB_PORT" -ge 1 ] && [ "$DB_PORT" -le 65535 ] \
        || die "RXPOOL_DB_PORT='$DB_PORT' is not a TCP port (1 to 65535)"
    [[ $HOST_NAME =~ ^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$ ]] \
        || die "RXPOOL_HOSTNAME='$HOST_NAME' is not a host name (letters, digits, dots and dashes)"
    for pair in PREFIX:PREFIX RXPOOL_ETC:ETC RXPOOL_STATE:STATE SYSTEMD_DIR:SYSTEMD_DIR \
        MONERO_STATE:MONERO_STATE MONERO_WALLET_STATE:WALLET_STATE \
        MONERO_WALLET_ETC:WALLET_ETC MONEROD_BIN:MONEROD_BIN \
        MONERO_WALLET_RPC_BIN:MONERO_WALLET_RPC_BIN MONERO_WALLET_CLI_BIN:MONERO_WALLET_CLI_BIN \
        NATS_ETC:NATS_ETC NATS_STATE:NATS_STATE NATS_SERVER_BIN:NATS_SERVER_BIN; do
        name=${pair%%:*}
        var=${pair#*:}
        value=${!var:-/}
        [[ $value =~ ^/[A-Za-z0-9._+@/-]*$ ]] \
            || die "$name='$value': give an absolute path of letters, digits and ._+@/- only (it goes into config.toml and the units)"
    done
    for pair in RXPOOL_USER:POOL_USER MONERO_USER:MONERO_USER MONERO_WALLET_USER:WALLET_USER \
        NATS_USER:NATS_USER; do
        name=${pair%%:*}
        var=${pair#*:}
        value=${!var}
        [[ $value =~ ^[A-Za-z_][A-Za-z0-9._-]{0,31}$ ]] \
            || die "$name='$value' is not a user name (letters, digits, ., _ and -)"
    done
}

check_privileges() {
    is_root && return 0
    local user
    for user in "$POOL_USER" "$MONERO_USER" "$WALLET_USER"; do
        [ "$user" = "$ME" ] || die "run as root, or install as yourself without root:
RXPOOL_USER=$ME MONERO_USER=$ME MONERO_WALLET_USER=$ME with PREFIX, RXPOOL_ETC,
RXPOOL_STATE, SYSTEMD_DIR, MONERO_STATE, MONERO_WALLET_STATE and MONERO_WALLET_ETC
pointing where you may write (and RXPOOL_BIN, RXPOOL_MYSQL_ADMIN)"
    done
}

install_packages() {
    local packages=()
    command -v openssl >/dev/null || packages+=(openssl)
    # A pool host uses the central host's MariaDB.
    if [ -z "$MYSQL_ADMIN" ] && [ "$MODE" != pool-host ]; then
        command -v mariadb >/dev/null || packages+=(mariadb-client)
        command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || packages+=(mariadb-server)
    fi
    if [ -z "${MONEROD_BIN:-}" ] && [ "${MONERO_DOWNLOAD:-0}" != 1 ]; then
        command -v monerod >/dev/null && command -v monero-wallet-rpc >/dev/null \
            && command -v monero-wallet-cli >/dev/null || packages+=(monero)
    fi
    if [ "${#packages[@]}" -eq 0 ]; then
        log "packages: everything needed is installed"
    else
        apt_install "${packages[@]}"
    fi
}

install_binary() {
    local bin=$RXPOOL_BIN
    if [ -z "$bin" ]; then
        apt_install "${BUILD_PACKAGES[@]}"
        ensure_cargo
        log "cargo build --release --locked"
        cargo build --release --locked
        bin=$REPO/target/release/rxpool
    fi
    [ -f "$bin" ] && [ -x "$bin" ] || die "RXPOOL_BIN=$bin is not an executable file"
    install -d "$PREFIX/bin"
    put_file "$bin" "$PREFIX/bin/rxpool" 0755 "$ROOT_OWNER"
}

check_monero_bins() {
    if [ "${MONERO_DOWNLOAD:-0}" = 1 ]; then
        download_monero
    fi
    resolve_monero_bins
    MONEROD_VERDICT=$(check_monerod "$MONEROD_BIN") && MONEROD_OK=1 || MONEROD_OK=0
    if [ "$MONEROD_OK" = 1 ]; then
        log "monerod: $MONEROD_VERDICT"
    else
        warn "monerod: $MONEROD_VERDICT; $MONEROD_ADVICE (step 1 below)"
    fi
}

setup_database() {
    local password_file="$ETC/mysql-password" password
    if [ -s "$password_file" ]; then
        password=$(head -n1 "$password_file")
    elif [ -e "$ETC/config.toml" ]; then
        # The file went missing but the config still holds the password: keep using it (a new
        # one would lock the installed roles out).
        password=$(sed -n "s#^url = \"mysql://$DB_USER:\([^@\"]*\)@.*#\1#p" "$ETC/config.toml" | head -n1)
        [ -n "$password" ] || die "$password_file is missing and the [mysql] url in $ETC/config.toml names no password for user '$DB_USER': put the password back into $password_file"
        (umask 077 && printf '%s\n' "$password" >"$password_file")
        log "restored $password_file from the [mysql] url in $ETC/config.toml"
    else
        password=$(random_secret)
        (umask 077 && printf '%s\n' "$password" >"$password_file")
        log "MySQL password for '$DB_USER' in $password_file"
    fi
    chmod 0600 "$password_file"
    own "$ROOT_OWNER" "$password_file"
    if [ -z "$MYSQL_ADMIN" ]; then
        if systemd_usable; then
            systemctl enable --now mariadb >/dev/null
        elif ! mysql_admin -e 'SELECT 1' >/dev/null 2>&1; then
            service mariadb start >/dev/null 2>&1 || service mysql start >/dev/null 2>&1 \
                || die "MariaDB is not running and could not be started (service mariadb start)"
        fi
    fi
    mysql_admin -e 'SELECT 1' >/dev/null \
        || die "cannot run SQL as a MySQL administrator (${MYSQL_ADMIN:-mariadb --protocol=socket -uroot}); set RXPOOL_MYSQL_ADMIN"
    log "MySQL database '$DB_NAME' and user '$DB_USER'"
    mysql_admin <<SQL
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$password';
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$password';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'localhost';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
    MYSQL_URL="mysql://$DB_USER:$password@127.0.0.1:$DB_PORT/$DB_NAME"
}

# config.toml.example with this host's values: a header of its own, the MySQL URL, the LMDB
# path, the hostname and the [tls] section switched on for the files make_tls_cert makes.
write_config() {
    local config="$ETC/config.toml" tmp
    if [ -e "$config" ]; then
        log "keeping $config as it is"
        return 0
    fi
    log "writing $config"
    tmp=$(mktemp "$ETC/.config.toml.XXXXXX")
    awk -v url="$MYSQL_URL" -v lmdb="$STATE/lmdb" -v tls="$ETC/tls" -v host="$HOST_NAME" \
        -v config="$config" -v bin="$PREFIX/bin/rxpool" -v pool_id="${CONFIG_POOL_ID:-}" '
        NR == 1 {
            print "# rxpool host configuration of " host ", written by install.sh from config.toml.example."
            print "# Edit it here and check it with `" bin " --config " config " config check`;"
            print "# re-running install.sh keeps it as it is."
            header = 1
            next
        }
        header && /^#$/ { header = 0 }
        header { next }
        /^# \[tls\]$/ { $0 = "[tls]"; tls_on = 1 }
        /^\[/ { section = $0 }
        section == "[mysql]" && /^url[ \t]*=/ && !m { print "url = \"" url "\""; m = 1; next }
        section == "[lmdb]" && /^path[ \t]*=/ && !l { print "path = \"" lmdb "\""; l = 1; next }
        section == "[pool]" && /^hostname[ \t]*=/ { print "hostname = \"" host "\""; next }
        section == "[pool]" && /^pool_id[ \t]*=/ && pool_id != "" { print "pool_id = " pool_id; next }
        section == "[tls]" && /^(# )?cert[ \t]*=/ { print "cert = \"" tls "/cert.pem\""; next }
        section == "[tls]" && /^(# )?key[ \t]*=/ { print "key = \"" tls "/key.pem\""; next }
        { print }
        END {
            if (!tls_on) printf "\n[tls]\ncert = \"%s/cert.pem\"\nkey = \"%s/key.pem\"\n", tls, tls
        }' "$REPO/config.toml.example" >"$tmp"
    [ -z "${CONFIG_FEED:-}" ] || printf '%s\n' "$CONFIG_FEED" >>"$tmp"
    chmod 0640 "$tmp"
    own "$ROOT_OWNER_USER:$POOL_GROUP" "$tmp"
    mv "$tmp" "$config"
}

make_tls_cert() {
    local dir="$ETC/tls"
    make_dir 0750 "$ROOT_OWNER_USER:$POOL_GROUP" "$dir"
    if [ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ]; then
        log "keeping the TLS certificate in $dir"
        return 0
    fi
    log "self-signed TLS certificate in $dir (replace it with a real one for public TLS ports)"
    (umask 077 && openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -sha256 \
        -subj "/CN=$HOST_NAME" -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1) \
        || die "openssl could not make a certificate in $dir"
    own "$ROOT_OWNER_USER:$POOL_GROUP" "$dir/key.pem" "$dir/cert.pem"
    chmod 0640 "$dir/key.pem"
    chmod 0644 "$dir/cert.pem"
}

# The directories monerod and wallet-rpc use, and the password the pool wallet is created
# with and wallet-rpc opens it with (random, kept on re-runs).
setup_monero_dirs() {
    make_dir 0750 "$MONERO_USER:$MONERO_GROUP" "$MONERO_STATE"
    make_dir 0700 "$WALLET_USER:$WALLET_GROUP" "$WALLET_STATE"
    make_dir 0750 "$ROOT_OWNER_USER:$WALLET_GROUP" "$WALLET_ETC"
    local password="$WALLET_ETC/password"
    if [ ! -s "$password" ]; then
        (umask 077 && random_secret >"$password")
        log "pool wallet password in $password"
    fi
    chmod 0640 "$password"
    own "$ROOT_OWNER_USER:$WALLET_GROUP" "$password"
}

install_docs() {
    make_dir 0755 "$ROOT_OWNER" "$DOC_DIR"
    put_file "$REPO/README.md" "$DOC_DIR/README.md" 0644 "$ROOT_OWNER"
    put_file "$REPO/config.toml.example" "$DOC_DIR/config.toml.example" 0644 "$ROOT_OWNER"
}

# sed's replacement text for a literal string.
sed_text() { printf '%s' "$1" | sed 's/[\\#&]/\\&/g'; }

# A unit from deployment/ with this install's paths, users and monero binaries.
render_unit() {
    local script=""
    add() { script+="s#$1#$(sed_text "$2")#g;"; }
    # Longest first: /var/lib/monero-wallet before /var/lib/monero.
    add /usr/bin/monero-wallet-rpc @WALLET_RPC@
    add /usr/bin/monerod @MONEROD@
    add /var/lib/monero-wallet @WALLET_STATE@
    add /var/lib/monero @MONERO_STATE@
    add /etc/monero-wallet @WALLET_ETC@
    add /usr/local/ @PREFIX@/
    add /etc/rxpool @ETC@
    add /usr/sbin/nats-server @NATS_BIN@
    add /etc/nats-server @NATS_ETC@
    add '^User=nats$' "User=$NATS_USER"
    add '^Group=nats$' "Group=${NATS_GROUP:-$NATS_USER}"
    add @NATS_BIN@ "$NATS_SERVER_BIN"
    add @NATS_ETC@ "$NATS_ETC"
    add @WALLET_RPC@ "$MONERO_WALLET_RPC_BIN"
    add @MONEROD@ "$MONEROD_BIN"
    add @WALLET_STATE@ "$WALLET_STATE"
    add @MONERO_STATE@ "$MONERO_STATE"
    add @WALLET_ETC@ "$WALLET_ETC"
    add @PREFIX@ "$PREFIX"
    add @ETC@ "$ETC"
    add 'runuser -u monero-wallet ' "runuser -u $WALLET_USER "
    add 'root:monero-wallet' "root:$WALLET_GROUP"
    add '^User=rxpool$' "User=$POOL_USER"
    add '^Group=rxpool$' "Group=$POOL_GROUP"
    add '^User=monero$' "User=$MONERO_USER"
    add '^Group=monero$' "Group=$MONERO_GROUP"
    add '^User=monero-wallet$' "User=$WALLET_USER"
    add '^Group=monero-wallet$' "Group=$WALLET_GROUP"
    # systemd makes /var/lib/NAME writable for StateDirectory=NAME; elsewhere, say so.
    [ "$STATE" = /var/lib/rxpool ] || add '^StateDirectory=rxpool$' "ReadWritePaths=$STATE"
    [ "$MONERO_STATE" = /var/lib/monero ] || add '^StateDirectory=monero$' "ReadWritePaths=$MONERO_STATE"
    [ "$WALLET_STATE" = /var/lib/monero-wallet ] \
        || add '^StateDirectory=monero-wallet$' "ReadWritePaths=$WALLET_STATE"
    [ "$NATS_STATE" = /var/lib/nats ] || add '^StateDirectory=nats$' "ReadWritePaths=$NATS_STATE"
    sed -e "$script" -e '/^ReadWritePaths=/{n;/^StateDirectoryMode=/d;}' "$1"
}

# The ExecStart command line of a unit, continuation lines joined, `%%` unescaped.
unit_command() {
    awk '/^ExecStart=/ { f = 1; sub(/^ExecStart=/, "") }
        f { c = sub(/[ \t]*\\$/, ""); sub(/^[ \t]+/, ""); out = out (out == "" ? "" : " ") $0
            if (!c) { print out; exit } }' "$1" | sed 's/%%/%/g'
}

systemd_usable() {
    [ -d /run/systemd/system ] && command -v systemctl >/dev/null \
        && [ "$SYSTEMD_DIR" = /etc/systemd/system ]
}

ROLES=(pool block-manager payments worker api cleaner)

# install_units [UNIT...]: the units of deployment/ (all of them when none is named) into
# SYSTEMD_DIR, enabled as MODE needs when systemd runs here.
install_units() {
    local unit tmp units=("$@") enabled
    [ "${#units[@]}" -gt 0 ] || units=("$REPO"/deployment/*.service "$REPO"/deployment/*.target)
    install -d "$SYSTEMD_DIR"
    tmp=$(mktemp -d)
    for unit in "${units[@]}"; do
        render_unit "$unit" >"$tmp/${unit##*/}"
        put_file "$tmp/${unit##*/}" "$SYSTEMD_DIR/${unit##*/}" 0644 "$ROOT_OWNER"
    done
    rm -rf "$tmp"
    local monero_units="monerod, monero-wallet-rpc"
    if [ "$MODE" = pool-host ]; then
        enabled="rxpool-pool"
        monero_units=monerod
    else
        enabled="rxpool.target, its roles (${ROLES[*]})"
        [ "$MODE" = central ] && enabled+=", nats-server and rxpool-ingest"
    fi
    if systemd_usable; then
        SYSTEMD=1
        systemctl daemon-reload
        if [ "$MODE" = pool-host ]; then
            # Without rxpool.target here: the pool starts with the system itself.
            systemctl add-wants multi-user.target rxpool-pool.service >/dev/null
        else
            systemctl enable rxpool.target rxpool-pool.service rxpool-block-manager.service \
                rxpool-payments.service rxpool-worker.service rxpool-api.service \
                rxpool-cleaner.service >/dev/null
        fi
        [ "$MODE" = central ] && systemctl enable nats-server.service rxpool-ingest.service >/dev/null
        log "enabled $enabled; nothing started yet"
        if [ "${MONERO_UNITS:-}" = enable ]; then
            if [ "$MODE" = pool-host ]; then
                systemctl enable monerod.service >/dev/null
                log "enabled monerod.service"
            else
                systemctl enable monerod.service monero-wallet-rpc.service >/dev/null
                log "enabled monerod.service and monero-wallet-rpc.service"
            fi
        fi
        return 0
    fi
    SYSTEMD=0
    if [ -d /run/systemd/system ]; then
        NO_SYSTEMD_WHY="SYSTEMD_DIR=$SYSTEMD_DIR is not a directory systemd reads"
    else
        NO_SYSTEMD_WHY="systemd is not running as PID 1 here (PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown); a container?)"
    fi
    warn "$NO_SYSTEMD_WHY: the units were written to $SYSTEMD_DIR but none was enabled or started ($enabled, ${monero_units}); the steps below say how to start each by hand"
}

STEP=0
# step TITLE LINE...: one numbered item of the closing list.
step() {
    STEP=$((STEP + 1))
    printf '\n%d. %s\n' "$STEP" "$1"
    shift
    local line
    for line in "$@"; do printf '     %s\n' "$line"; done
}

# The first steps of every closing list: a newer monerod when need be, then starting it.
steps_monerod() {
    local monerod_cmd monero_as
    monerod_cmd=$(unit_command "$SYSTEMD_DIR/monerod.service")
    monero_as=$(as_prefix "$MONERO_USER")
    if [ "$MONEROD_OK" != 1 ]; then
        step "Get monerod $MONEROD_MIN or later. $MONEROD_VERDICT." \
            "Then run this installer again with MONEROD_BIN=/path/to/monerod (monero-wallet-rpc and" \
            "monero-wallet-cli from the same directory), or with MONERO_DOWNLOAD=1 to fetch the official" \
            "release from downloads.getmonero.org, checked against the SHA-256 list signed by binaryFate."
    fi
    if [ "$SYSTEMD" = 1 ]; then
        step "Start monerod and let it sync (a day or more; the pool serves no jobs before):" \
            "systemctl enable --now monerod      (log: $MONERO_STATE/monerod.log)" \
            "If the pool uses a monerod on another host, set [daemon] urls in $ETC/config.toml instead."
    else
        step "Start monerod and let it sync (a day or more; the pool serves no jobs before):" \
            "nohup $monero_as$monerod_cmd >/dev/null 2>&1 &" \
            "(log: $MONERO_STATE/monerod.log). If the pool uses a monerod on another host, set" \
            "[daemon] urls in $ETC/config.toml instead."
    fi
}

print_next_steps() {
    local rx="$PREFIX/bin/rxpool --config $ETC/config.toml"
    local cli="$MONERO_WALLET_CLI_BIN"
    local wallet_cmd pool_as wallet_as
    wallet_cmd=$(unit_command "$SYSTEMD_DIR/monero-wallet-rpc.service")
    pool_as=$(as_prefix "$POOL_USER")
    wallet_as=$(as_prefix "$WALLET_USER")

    printf '\nrxpool is installed: %s, %s, the MySQL database %s, units in %s.\n' \
        "$PREFIX/bin/rxpool" "$ETC/config.toml" "'$DB_NAME'" "$SYSTEMD_DIR"
    printf 'What is left for you, in this order:\n'
    steps_monerod
    step "Create the pool wallet, once: the wallet the payments role pays from, which" \
        "monero-wallet-rpc opens with the password in $WALLET_ETC/password:" \
        "cd $WALLET_STATE && $wallet_as$cli --offline --mnemonic-language English --generate-new-wallet $WALLET_STATE/pool --password-file $WALLET_ETC/password" \
        "Write down the 25 words it shows, then type exit. Its first line, \"Generated new wallet: 4...\"," \
        "is the pool address (step 6)."
    if [ "$SYSTEMD" = 1 ]; then
        step "Start monero-wallet-rpc with that wallet:" \
            "systemctl enable --now monero-wallet-rpc      (log: $WALLET_STATE/wallet-rpc.log)"
    else
        step "Start monero-wallet-rpc with that wallet:" \
            "nohup $wallet_as$wallet_cmd >/dev/null 2>&1 &" \
            "(log: $WALLET_STATE/wallet-rpc.log)"
    fi
    step "Choose the fee address (payout.feeAddress): a wallet of your own, not the pool wallet. The" \
        "pool's fee on every block is credited to it and paid to it from the pool wallet like a miner's" \
        "balance. Keep its spend key off this host; to watch the fees arrive here, a view-only wallet" \
        "is enough: $cli --generate-from-view-key $WALLET_STATE/fees-view"
    step "Set the shared settings (stored in MySQL, the same for every pool host):" \
        "$rx admin config set pool.address POOL_WALLET_ADDRESS" \
        "$rx admin config set payout.feeAddress FEE_WALLET_ADDRESS" \
        "$rx admin config list      (fees, payout thresholds and everything else, with their rules)"
    step "Check $ETC/config.toml: hostname is \"$HOST_NAME\"; set pool_id (unique per pool host)," \
        "public_address, and [daemon] urls / [wallet] url if monerod or wallet-rpc run elsewhere. Then:" \
        "$rx config check"
    step "Stratum ports. The database starts with three PPLNS ports on [pool] bind: 3333 (difficulty" \
        "1000, low-end hardware), 5555 (5000, mid-range) and 7777 (10000, high-end). Open the ones you" \
        "keep in the firewall. See or change them with:" \
        "$rx admin port list" \
        "$rx admin port add PORT --diff N --type pplns|pps|solo [--tls] [--hidden]" \
        "$rx admin port remove PORT"
    [ "$MODE" = central ] && steps_central
    if [ "$SYSTEMD" = 1 ]; then
        step "Start the pool:" \
            "systemctl start rxpool.target      (logs: journalctl -u 'rxpool-*' -f)" \
            "(or, for the smallest pools, every role in one process: systemctl enable --now rxpool-all)"
    else
        step "Start the pool by hand (no systemd here), every role in one process:" \
            "nohup ${pool_as}env RUST_LOG=info $rx all >>$STATE/rxpool.log 2>&1 &" \
            "or one process per role, each its own line: ${ROLES[*]}:" \
            "nohup ${pool_as}env RUST_LOG=info $rx pool >>$STATE/pool.log 2>&1 &" \
            "or in tmux, to watch it: tmux new -d -s rxpool '${pool_as}env RUST_LOG=info $rx all'" \
            "Stop with kill -TERM PID (each role finishes its current step first)."
    fi
    step "The dashboard and the api listen on [api] bind (127.0.0.1:8001): put a TLS reverse proxy in" \
        "front, set general.publicUrl to its URL, and make yourself an admin (password on stdin):" \
        "read -rs P; printf '%s\\n' \"\$P\" | $rx admin user add YOUR_NAME"
    printf '\nREADME: %s (section "Production install").\n' "$DOC_DIR/README.md"
}

# --- several pool hosts: `central` and `pool-host` ------------------------------------------

NAME_RE='^[A-Za-z0-9_-]{1,32}$'

# RXPOOL_POOL_HOSTS ("NAME[:POOL_ID] ...") as POOL_HOST_NAMES and POOL_HOST_IDS, checked before
# anything is written. This host is pool_id 1; the others count on from 2 unless given.
parse_pool_hosts() {
    local entries entry name id position=1 names=" " ids=" 1 "
    local hosts=${RXPOOL_POOL_HOSTS:-}
    POOL_HOST_NAMES=()
    POOL_HOST_IDS=()
    read -ra entries <<<"$hosts"
    [ "${#entries[@]}" -gt 0 ] \
        || die "RXPOOL_POOL_HOSTS='$hosts': name the pool hosts, e.g. RXPOOL_POOL_HOSTS=\"eu us\" (each gets a NATS user and password)"
    for entry in "${entries[@]}"; do
        position=$((position + 1))
        name=${entry%%:*}
        id=$position
        [ "$entry" = "$name" ] || id=${entry#*:}
        [[ $name =~ $NAME_RE ]] && [ "$name" != ingest ] \
            || die "RXPOOL_POOL_HOSTS='$hosts': '$name' is not a pool host name (1 to 32 letters, digits, _ and -; not 'ingest')"
        [[ $id =~ ^[1-9][0-9]{0,8}$ ]] \
            || die "RXPOOL_POOL_HOSTS='$hosts': in '$entry', the pool_id after ':' must be a number from 2 to 999999999"
        [[ $names != *" $name "* ]] || die "RXPOOL_POOL_HOSTS='$hosts': '$name' is named twice"
        [[ $ids != *" $id "* ]] \
            || die "RXPOOL_POOL_HOSTS='$hosts': pool_id $id of '$name' is taken (this host is 1)"
        names+="$name "
        ids+="$id "
        POOL_HOST_NAMES+=("$name")
        POOL_HOST_IDS+=("$id")
    done
}

# What pool-host mode reads, checked before anything is written; NATS_PASSWORD is the password.
validate_pool_host() {
    local id=${RXPOOL_POOL_ID:-} url=${RXPOOL_MYSQL_URL:-} nats=${RXPOOL_NATS_URL:-}
    local user=${RXPOOL_NATS_USER:-} file=$NATS_PASSWORD_FILE
    local mysql_re='^mysql://[A-Za-z0-9_]+:[^[:space:]"\\@]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?/[A-Za-z0-9_]+$'
    local server='(nats|tls)://[A-Za-z0-9.-]+:[0-9]{1,5}'
    [[ $id =~ ^[1-9][0-9]{0,8}$ ]] \
        || die "RXPOOL_POOL_ID='$id': give this host's pool_id, the number the central host's closing list gives it (1 to 999999999)"
    [[ $url =~ $mysql_re ]] \
        || die "RXPOOL_MYSQL_URL=(not shown, it holds a password) is not mysql://USER:PASSWORD@HOST:PORT/DATABASE (no quotes, backslashes or spaces): give the central host's MariaDB"
    [[ $nats =~ ^$server(,$server)*$ ]] \
        || die "RXPOOL_NATS_URL='$nats' is not tls://HOST:PORT (or nats://HOST:PORT; commas between servers): give the central host's nats-server"
    [[ $user =~ $NAME_RE ]] \
        || die "RXPOOL_NATS_USER='$user' is not a NATS user (1 to 32 letters, digits, _ and -): give this host's name in the central host's RXPOOL_POOL_HOSTS"
    [ -n "$file" ] && [ -f "$file" ] && [ -r "$file" ] \
        || die "RXPOOL_NATS_PASSWORD_FILE='$file' is not a readable file: copy this host's password file from the central host ($NATS_ETC/passwords/$user there)"
    NATS_PASSWORD=$(head -n1 "$file")
    [[ $NATS_PASSWORD =~ ^[A-Za-z0-9+/=._-]{16,128}$ ]] \
        || die "RXPOOL_NATS_PASSWORD_FILE=$file: its first line is not a password (16 to 128 letters, digits and +/=._-)"
    if [ -n "$NATS_CA" ]; then
        [ -f "$NATS_CA" ] && grep -q -- '-----BEGIN CERTIFICATE-----' "$NATS_CA" \
            || die "RXPOOL_NATS_CA=$NATS_CA is not a PEM certificate (copy $NATS_ETC/server.pem from the central host)"
    fi
}

# feed_section URL USER PASSWORD CA: the [feed] section install.sh appends to a new config.toml.
feed_section() {
    printf '\n# Written by install.sh %s (README "Several pool hosts"): this host publishes its shares\n' "$MODE"
    printf '# to NATS JetStream as its pool_id; the central host'"'"'s `rxpool ingest` writes them to LMDB.\n'
    printf '[feed]\nnats_url = "%s"\nuser = "%s"\npassword = "%s"\n' "$1" "$2" "$3"
    [ -z "$4" ] || printf 'tls_ca = "%s"\n' "$4"
    printf 'spool_dir = "%s"\n' "$STATE/spool"
}

# A self-signed certificate for nats-server, valid for this host's name, localhost and
# 127.0.0.1, and not a CA (TLS clients refuse a CA certificate as a server's).
make_nats_cert() {
    local cert="$NATS_ETC/server.pem" key="$NATS_ETC/server-key.pem" conf
    if [ -s "$cert" ] && [ -s "$key" ]; then
        log "keeping the NATS certificate $cert"
    else
        log "self-signed NATS certificate $cert for $HOST_NAME (replace it with a real one if you like)"
        conf=$(mktemp)
        printf '%s\n' '[req]' 'distinguished_name = dn' 'x509_extensions = ext' 'prompt = no' \
            '[dn]' "CN = $HOST_NAME" '[ext]' 'basicConstraints = critical,CA:FALSE' \
            "subjectAltName = DNS:$HOST_NAME,DNS:localhost,IP:127.0.0.1" \
            'keyUsage = critical,digitalSignature,keyEncipherment' 'extendedKeyUsage = serverAuth' >"$conf"
        (umask 077 && openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -sha256 -config "$conf" \
            -keyout "$key" -out "$cert" >/dev/null 2>&1) \
            || { rm -f "$conf"; die "openssl could not make a certificate in $NATS_ETC"; }
        rm -f "$conf"
    fi
    own "$ROOT_OWNER_USER:$NATS_GROUP" "$key" "$cert"
    chmod 0640 "$key"
    chmod 0644 "$cert"
}

# nats_user NAME PUBLISH: one entry of the conf's users, its password from NATS_ETC/passwords.
nats_user() {
    printf '    {\n      user: %s\n      password: "%s"\n      permissions: {\n' \
        "$1" "$(head -n1 "$NATS_ETC/passwords/$1")"
    printf '        publish: [%s]\n        subscribe: ["_INBOX.>"]\n      }\n    }\n' "$2"
}

# deployment/nats-server.conf with this install's paths and one user per pool host (its own
# subject only), plus `ingest`, which this host's pool and ingest use.
render_nats_conf() {
    local i
    sed -e "s#/var/lib/nats#$(sed_text "$NATS_STATE")#g" \
        -e "s#/etc/nats-server#$(sed_text "$NATS_ETC")#g" \
        -e '/^authorization {/,$d' "$REPO/deployment/nats-server.conf"
    printf '# Written by install.sh central: the users of RXPOOL_POOL_HOSTS, their passwords in\n'
    printf '# %s/passwords/.\nauthorization {\n  users = [\n' "$NATS_ETC"
    for i in "${!POOL_HOST_NAMES[@]}"; do
        nats_user "${POOL_HOST_NAMES[$i]}" "\"rxpool.shares.${POOL_HOST_IDS[$i]}\", \"\$JS.API.STREAM.INFO.RXPOOL_FEED\", \"\$JS.API.STREAM.CREATE.RXPOOL_FEED\""
    done
    nats_user ingest '"rxpool.shares.1", "rxpool.dead.>", "$JS.API.>", "$JS.ACK.RXPOOL_FEED.>"'
    printf '  ]\n}\n'
}

# nats-server for `central`: the package, its user and directories, a password per user
# (0600, kept on re-runs), the certificate, and the conf, checked with `nats-server -t`.
setup_nats() {
    local name file conf="$NATS_ETC/rxpool.conf" tmp out
    [ -x "$NATS_SERVER_BIN" ] || apt_install nats-server
    [ -x "$NATS_SERVER_BIN" ] || die "NATS_SERVER_BIN=$NATS_SERVER_BIN is not an executable file"
    ensure_user "$NATS_USER" "$NATS_STATE"
    NATS_GROUP=$(id -gn "$NATS_USER")
    make_dir 0750 "$ROOT_OWNER_USER:$NATS_GROUP" "$NATS_ETC"
    make_dir 0700 "$ROOT_OWNER" "$NATS_ETC/passwords"
    make_dir 0750 "$NATS_USER:$NATS_GROUP" "$NATS_STATE"
    for name in ingest "${POOL_HOST_NAMES[@]}"; do
        file="$NATS_ETC/passwords/$name"
        if [ ! -s "$file" ]; then
            (umask 077 && random_secret >"$file")
            log "NATS password of '$name' in $file"
        fi
        chmod 0600 "$file"
        own "$ROOT_OWNER" "$file"
    done
    make_nats_cert
    tmp=$(mktemp)
    render_nats_conf >"$tmp"
    put_file "$tmp" "$conf" 0640 "$ROOT_OWNER_USER:$NATS_GROUP"
    rm -f "$tmp"
    out=$("$NATS_SERVER_BIN" -c "$conf" -t 2>&1) || die "nats-server -c $conf -t refused it: $out"
    # The pool and the ingest verify nats-server's certificate with this copy (NATS_ETC is
    # not theirs to read).
    put_file "$NATS_ETC/server.pem" "$ETC/nats-ca.pem" 0644 "$ROOT_OWNER"
    CONFIG_FEED=$(feed_section "tls://127.0.0.1:4222" ingest "$(head -n1 "$NATS_ETC/passwords/ingest")" "$ETC/nats-ca.pem")
}

# The central host's steps: nats-server, MariaDB for the pool hosts, then each pool host.
steps_central() {
    local i name rx="$PREFIX/bin/rxpool --config $ETC/config.toml"
    if [ "$SYSTEMD" = 1 ]; then
        step "Start nats-server with $NATS_ETC/rxpool.conf (JetStream in $NATS_STATE; the ingest" \
            "starts with the pool). Restart it: Debian's package started it with its own conf:" \
            "systemctl restart nats-server      (log: journalctl -u nats-server)"
    else
        step "Start nats-server (JetStream in $NATS_STATE; \`rxpool all\` below runs the ingest too," \
            "or run it as its own role: $rx ingest):" \
            "nohup $(as_prefix "$NATS_USER")$NATS_SERVER_BIN -c $NATS_ETC/rxpool.conf >>$NATS_STATE/nats.log 2>&1 &"
    fi
    step "Let the pool hosts reach MariaDB (settings, ports, bans and heartbeats stay shared): set" \
        "bind-address to this host's private address in MariaDB's server config, restart it, and" \
        "for each pool host ADDRESS: CREATE USER '$DB_USER'@'ADDRESS' IDENTIFIED BY 'PASSWORD';" \
        "GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'ADDRESS';  (PASSWORD: $ETC/mysql-password)." \
        "Open port $DB_PORT and 4222 (NATS, TLS) in the firewall to the pool hosts only."
    for i in "${!POOL_HOST_NAMES[@]}"; do
        name=${POOL_HOST_NAMES[$i]}
        step "Pool host '$name' (pool_id ${POOL_HOST_IDS[$i]}): copy $NATS_ETC/passwords/$name and" \
            "$ETC/nats-ca.pem to it (e.g. into /root/), then run there, from a copy of this repository:" \
            "RXPOOL_POOL_ID=${POOL_HOST_IDS[$i]} RXPOOL_NATS_URL=tls://$HOST_NAME:4222 RXPOOL_NATS_USER=$name \\" \
            "  RXPOOL_NATS_PASSWORD_FILE=/root/$name RXPOOL_NATS_CA=/root/nats-ca.pem \\" \
            "  RXPOOL_MYSQL_URL=mysql://$DB_USER:PASSWORD@$HOST_NAME:$DB_PORT/$DB_NAME ./install.sh pool-host"
    done
}

# What every install mode does first, once its settings are checked: packages, the rxpool
# binary, the monero binaries, and the users of rxpool and monerod.
install_common() {
    check_privileges
    ROOT_OWNER_USER=$(is_root && echo root || echo "$ME")
    ROOT_OWNER="$ROOT_OWNER_USER:$(id -gn "$ROOT_OWNER_USER")"
    log "packages"
    install_packages
    install_binary
    check_monero_bins

    ensure_user "$POOL_USER" "$STATE"
    ensure_user "$MONERO_USER" "$MONERO_STATE"
    POOL_GROUP=$(id -gn "$POOL_USER")
    MONERO_GROUP=$(id -gn "$MONERO_USER")
}

# `./install.sh pool-host`: stratum only; shares go to the central host through NATS.
install_pool_host() {
    validate_settings
    validate_pool_host
    install_common
    # No wallet here; the units only name its group.
    WALLET_GROUP=$(id -gn "$WALLET_USER" 2>/dev/null || echo "$WALLET_USER")
    make_dir 0750 "$ROOT_OWNER_USER:$POOL_GROUP" "$ETC"
    make_dir 0750 "$POOL_USER:$POOL_GROUP" "$STATE" "$STATE/spool"
    make_dir 0750 "$MONERO_USER:$MONERO_GROUP" "$MONERO_STATE"

    local ca=""
    if [ -n "$NATS_CA" ]; then
        ca="$ETC/nats-ca.pem"
        put_file "$NATS_CA" "$ca" 0644 "$ROOT_OWNER"
    fi
    MYSQL_URL=$RXPOOL_MYSQL_URL
    CONFIG_POOL_ID=$RXPOOL_POOL_ID
    CONFIG_FEED=$(feed_section "$RXPOOL_NATS_URL" "$RXPOOL_NATS_USER" "$NATS_PASSWORD" "$ca")
    write_config
    make_tls_cert
    install_docs
    install_units "$REPO/deployment/rxpool-pool.service" "$REPO/deployment/monerod.service"
    print_pool_host_steps
}

print_pool_host_steps() {
    local rx="$PREFIX/bin/rxpool --config $ETC/config.toml"
    printf '\nrxpool is installed as a pool host: %s, %s, units in %s.\n' \
        "$PREFIX/bin/rxpool" "$ETC/config.toml" "$SYSTEMD_DIR"
    printf 'What is left for you, in this order:\n'
    steps_monerod
    step "Check $ETC/config.toml: hostname is \"$HOST_NAME\", pool_id is $RXPOOL_POOL_ID (the central" \
        "host's nats-server lets this host publish only as that pool_id), public_address. Then:" \
        "$rx config check      (it reaches the central host's MariaDB)"
    step "Open the stratum ports in the firewall (the same on every pool host): $rx admin port list"
    if [ "$SYSTEMD" = 1 ]; then
        step "Start the pool (it spools shares in $STATE/spool while NATS is unreachable):" \
            "systemctl start rxpool-pool      (logs: journalctl -u rxpool-pool -f)"
    else
        step "Start the pool by hand (no systemd here; it spools shares in $STATE/spool while NATS is" \
            "unreachable):" \
            "nohup $(as_prefix "$POOL_USER")env RUST_LOG=info $rx pool >>$STATE/pool.log 2>&1 &" \
            "Stop with kill -TERM PID."
    fi
    printf '\nREADME: %s (section "Several pool hosts").\n' "$DOC_DIR/README.md"
}

install_pool() {
    validate_settings
    [ "$MODE" = central ] && parse_pool_hosts
    install_common
    ensure_user "$WALLET_USER" "$WALLET_STATE"
    WALLET_GROUP=$(id -gn "$WALLET_USER")

    make_dir 0750 "$ROOT_OWNER_USER:$POOL_GROUP" "$ETC"
    make_dir 0750 "$POOL_USER:$POOL_GROUP" "$STATE" "$STATE/lmdb"
    setup_monero_dirs

    setup_database
    [ "$MODE" = central ] && setup_nats
    write_config
    if [ "$MODE" = central ] && ! grep -q '^\[feed\]' "$ETC/config.toml"; then
        warn "$ETC/config.toml has no [feed] section: add this host's (README \"Several pool hosts\"; user ingest, password in $NATS_ETC/passwords/ingest)"
    fi
    make_tls_cert
    install_docs

    log "rxpool migrate"
    # Errors only: a first migration logs its slow ALTERs as warnings.
    as_user "$POOL_USER" env RUST_LOG=error "$PREFIX/bin/rxpool" --config "$ETC/config.toml" migrate

    install_units
    print_next_steps
}

MODE=${1:-install}
case "$MODE" in
    install | central) install_pool ;;
    pool-host) install_pool_host ;;
    check-monerod) run_check_monerod ;;
    download-monero) run_download_monero ;;
    test) run_tests ;;
    sandbox) shift; run_sandbox "$@" ;;
    help | -h | --help) sed -n '2,51p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1' (try: ./install.sh help)" ;;
esac
