# The edge worker under `wrangler dev` for docker-compose.yml, built the way scripts/build-worker.sh builds it:
# worker-build and wasm-bindgen-cli at the versions in Cargo.lock, Node tools from scripts/node/package-lock.json.
FROM rust:1.95.0-bookworm
RUN curl -fsSL https://deb.nodesource.com/setup_22.x | bash - && apt-get install -y --no-install-recommends nodejs \
    && rm -rf /var/lib/apt/lists/*
RUN rustup target add wasm32-unknown-unknown \
    && cargo install --locked worker-build --version 0.8.7 \
    && cargo install wasm-bindgen-cli --version 0.2.130
ENV PATHLIGHT_TOOLS=/opt/pathlight-tools
WORKDIR /src
COPY scripts/node/package.json scripts/node/package-lock.json /opt/pathlight-tools/node/
RUN cd /opt/pathlight-tools/node && npm ci
COPY . .
RUN bash scripts/build-worker.sh
ENTRYPOINT ["bash", "docker/worker-dev.sh"]
