#!/usr/bin/env bash
# Installs every tool the local stack and the test suite need, each at an exact version, skipping what is
# already installed at that version. Safe to run again and again; a fresh machine takes about 15 minutes,
# nearly all of it `cargo install` of the broker and the worker toolchain.
#
# Where each version is pinned:
#   Rust tools       wasm-bindgen-cli and worker-build: the wasm-bindgen and worker versions in Cargo.lock
#                    (they must match the crates the worker is built with); tansu: TANSU_VERSION below
#   librdkafka       the version bundled in rdkafka-sys, from Cargo.lock
#   Node tools       scripts/node/package-lock.json (npm ci)
#   Python packages  scripts/requirements.txt
#   Debian packages  ClickHouse exactly; Chromium and the build tools as Debian 12 ships them (see below)
set -euo pipefail
source "$(dirname "$0")/env.sh"
mkdir -p "$PATHLIGHT_TOOLS"

TANSU_VERSION="0.6.0"
CLICKHOUSE_DEB_VERSION="18.16.1+ds-7.3+b2"  # the only ClickHouse on Debian 12; the tests are written for it
NODE_MAJOR_MIN=20                           # wrangler 4.86 runs on Node 20; the machine's Node is used as is

# --- Debian packages ------------------------------------------------------------------------------------
# ClickHouse is pinned exactly. Chromium is not: Debian's security archive replaces it with each fix and
# drops the old build, so a pin would break the next fresh install; the browser tests only need a Chromium
# that playwright-core can drive. cmake, pkg-config and the -dev packages only build librdkafka.
apt_pinned=("clickhouse-server=$CLICKHOUSE_DEB_VERSION" "clickhouse-client=$CLICKHOUSE_DEB_VERSION")
apt_unpinned=(chromium cmake pkg-config zlib1g-dev libssl-dev)
installed_version() { dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null | sed -n 's/^install ok installed //p'; }
missing=()
for spec in "${apt_pinned[@]}"; do
  [ "$(installed_version "${spec%%=*}")" = "${spec#*=}" ] || missing+=("$spec")
done
for p in "${apt_unpinned[@]}"; do
  [ -n "$(installed_version "$p")" ] || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends --allow-downgrades "${missing[@]}" >/dev/null
fi

grep -qx wasm32-unknown-unknown <<<"$(rustup target list --installed)" || rustup target add wasm32-unknown-unknown

# --- Node tools -----------------------------------------------------------------------------------------
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || die "node not found: install Node $NODE_MAJOR_MIN or later"
((node_major >= NODE_MAJOR_MIN)) || die "Node $(node --version) is too old: wrangler needs Node $NODE_MAJOR_MIN or later"
# Reinstalled when the lock file changed or the installed tree no longer matches it (`npm ls` checks every
# package's version against the lock).
lock_src="$PATHLIGHT_ROOT/scripts/node/package-lock.json"
if ! cmp -s "$lock_src" "$NODE_TOOLS/package-lock.json" || ! (cd "$NODE_TOOLS" && npm ls --all >/dev/null 2>&1); then
  log "npm: installing node tools"
  mkdir -p "$NODE_TOOLS"
  cp "$PATHLIGHT_ROOT/scripts/node/package.json" "$lock_src" "$NODE_TOOLS/"
  (cd "$NODE_TOOLS" && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- Python packages ------------------------------------------------------------------------------------
requirements="$PATHLIGHT_ROOT/scripts/requirements.txt"
if ! python3 - "$requirements" <<'PY'
import importlib.metadata as metadata, sys
for line in open(sys.argv[1]):
    spec = line.split("#", 1)[0].strip()
    if spec:
        name, version = spec.split("==")
        try:
            assert metadata.version(name) == version
        except (metadata.PackageNotFoundError, AssertionError):
            sys.exit(1)
PY
then
  log "pip: installing scripts/requirements.txt"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r "$requirements"
fi

# --- Rust tools -----------------------------------------------------------------------------------------
# Build time matters more than their run-time speed, so they are built with a light profile and a shared
# target directory (they share many dependencies).
# The version a binary reports: the last word of its `--version` line ("wasm-bindgen 0.2.130", "0.8.7").
installed_cargo_version() { "$HOME/.cargo/bin/$1" --version 2>/dev/null | head -n1 | awk '{print $NF}'; }
cargo_install() { # crate version binary [extra args...]
  local crate=$1 version=$2 bin=$3; shift 3
  if [ "$(installed_cargo_version "$bin")" = "$version" ]; then return; fi
  log "cargo: installing $crate $version (several minutes)"
  CARGO_TARGET_DIR="$PATHLIGHT_TOOLS/cargo-target" \
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install -q "$crate" --version "$version" --force "$@"
  [ "$(installed_cargo_version "$bin")" = "$version" ] \
    || die "$bin --version does not say $version after installing $crate $version"
}
# Not --locked: wasm-bindgen-cli 0.2.130's lock file pins webpki-roots 1.0.11, which the registry mirror
# here does not have (it stops at 1.0.10), so a locked install cannot resolve.
cargo_install wasm-bindgen-cli "$(locked_version wasm-bindgen)" wasm-bindgen
cargo_install worker-build "$(locked_version worker)" worker-build --locked
cargo_install tansu "$TANSU_VERSION" tansu --locked --features libsql,dynostore

# --- librdkafka -----------------------------------------------------------------------------------------
# A shared librdkafka for ClickHouse: Debian's 2.0.2 cannot talk to the broker. Built from the sources that
# the rdkafka-sys crate ships, so no download beyond crates.io is needed.
if [ ! -f "$LIBRDKAFKA_PREFIX/lib/librdkafka.so.1" ]; then
  log "building librdkafka $LIBRDKAFKA_VERSION (shared)"
  (cd "$PATHLIGHT_ROOT" && cargo fetch -q --locked)
  src=$(ls -d "$HOME"/.cargo/registry/src/*/rdkafka-sys-*+"$LIBRDKAFKA_VERSION"/librdkafka | head -n1)
  [ -d "$src" ] || die "rdkafka-sys sources for librdkafka $LIBRDKAFKA_VERSION not found"
  work="$PATHLIGHT_TOOLS/librdkafka-src"
  rm -rf "$work" && cp -r "$src" "$work"
  sed -i 's/#cmakedefine01 WITH_OAUTHBEARER_OIDC/#cmakedefine WITH_OAUTHBEARER_OIDC/' "$work/packaging/cmake/config.h.in"
  cmake -S "$work" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$LIBRDKAFKA_PREFIX" \
    -DRDKAFKA_BUILD_STATIC=OFF -DRDKAFKA_BUILD_EXAMPLES=OFF -DRDKAFKA_BUILD_TESTS=OFF \
    -DWITH_CURL=OFF -DWITH_SASL=OFF -DWITH_SSL=OFF -DWITH_ZSTD=OFF -DENABLE_LZ4_EXT=OFF >/dev/null
  cmake --build "$work/build" -j"$(nproc)" >/dev/null
  cmake --install "$work/build" >/dev/null
  rm -rf "$work"
fi
log "all tools present"
