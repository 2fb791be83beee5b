# ingest-gateway for docker-compose.yml: `migrate` (topics + sql/) then `serve`. The toolchain matches the one
# the repository is tested with; librdkafka is bundled by rdkafka-sys and built with its own ./configure.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p ingest-gateway

FROM debian:12.12-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 libsasl2-2 zlib1g \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/ingest-gateway /usr/local/bin/ingest-gateway
COPY sql /srv/pathlight/sql
WORKDIR /srv/pathlight
ENV SQL_DIR=/srv/pathlight/sql
ENTRYPOINT ["/bin/sh", "-c", "ingest-gateway migrate && exec ingest-gateway serve"]
