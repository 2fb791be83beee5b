#!/usr/bin/env bash
# Installs every tool the local stack and the test suite need, skipping what is already present at the
# pinned version. Safe to run again and again; a fresh machine takes about 40 minutes (mostly cargo install).
set -euo pipefail
source "$(dirname "$0")/env.sh"
mkdir -p "$PATHLIGHT_TOOLS"

# Debian packages: ClickHouse 18.16 (the server reachable here), Chromium for browser tests,
# cmake for librdkafka.
apt_packages=(clickhouse-server clickhouse-client chromium cmake pkg-config zlib1g-dev libssl-dev)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

grep -qx wasm32-unknown-unknown <<<"$(rustup target list --installed)" || rustup target add wasm32-unknown-unknown

# Node tools pinned by scripts/node/package-lock.json; reinstalled only when the lock file changes.
lock_src="$PATHLIGHT_ROOT/scripts/node/package-lock.json"
if ! cmp -s "$lock_src" "$NODE_TOOLS/package-lock.json" || [ ! -d "$NODE_TOOLS/node_modules" ]; then
  log "npm: installing node tools"
  mkdir -p "$NODE_TOOLS"
  cp "$PATHLIGHT_ROOT/scripts/node/package.json" "$lock_src" "$NODE_TOOLS/"
  (cd "$NODE_TOOLS" && npm ci --no-audit --no-fund --loglevel=error)
fi

# chDB: a modern ClickHouse engine in-process, used to prove the DDL and queries on current ClickHouse.
if ! python3 -c "import importlib.metadata as m; assert m.version('chdb-core') == '$CHDB_VERSION'" 2>/dev/null; then
  log "pip: installing chdb-core $CHDB_VERSION"
  python3 -m pip install -q --disable-pip-version-check "chdb-core==$CHDB_VERSION"
fi

# Cargo-installed tools. Speed matters more than their run-time speed, so build them with a light profile
# and a shared target directory (they share many dependencies).
cargo_install() { # name version binary [extra args...]
  local name=$1 version=$2 bin=$3; shift 3
  if "$HOME/.cargo/bin/$bin" --version 2>/dev/null | grep -q "$version"; then return; fi
  log "cargo: installing $name $version (several minutes)"
  CARGO_TARGET_DIR="$PATHLIGHT_TOOLS/cargo-target" \
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install -q "$name" --version "$version" --force "$@"
}
cargo_install wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen
cargo_install worker-build "$WORKER_BUILD_VERSION" worker-build
cargo_install tansu "$TANSU_VERSION" tansu --locked --features libsql,dynostore

# librdkafka 2.12.1 as a shared library for ClickHouse: Debian's 2.0.2 cannot talk to the broker.
# Built from the sources that the rdkafka-sys crate ships, so no download beyond crates.io is needed.
if [ ! -f "$LIBRDKAFKA_PREFIX/lib/librdkafka.so.1" ]; then
  log "building librdkafka $LIBRDKAFKA_VERSION (shared)"
  (cd "$PATHLIGHT_ROOT" && cargo fetch -q)
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
