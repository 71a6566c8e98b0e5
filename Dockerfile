# Multi-stage build: compile with the Rust toolchain, run on a slim Debian
# as an unprivileged user, state on a volume.
#
#   docker build -t llm-key-proxy .
#   docker run -p 8000:8000 --env-file .env -v llm-key-proxy-data:/data llm-key-proxy
#
# Listening on 0.0.0.0 inside the container requires PROXY_API_KEY (in
# .env, at least 16 characters); the proxy refuses to start without it.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crates ./crates
COPY config ./config
COPY examples ./examples
COPY tests ./tests
COPY benches ./benches
RUN cargo build --release --locked --bin llm-key-proxy

FROM debian:bookworm-slim
# Debian's base-passwd already has a user named `proxy` (uid 13): ours is
# `llmkp`, uid and gid 10001.
RUN groupadd --gid 10001 llmkp \
    && useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin llmkp \
    && mkdir -p /app/config /data && chown 10001:10001 /data
WORKDIR /app
COPY --from=build /src/target/release/llm-key-proxy /usr/local/bin/llm-key-proxy
COPY config/default.toml /app/config/default.toml
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
ENV RUST_LOG=info
# Request logs (--enable-request-logging) on the writable volume.
ENV REQUEST_LOG_DIR=/data/logs
STOPSIGNAL SIGTERM
ENTRYPOINT ["llm-key-proxy", "--host", "0.0.0.0", "--port", "8000", "--data-dir", "/data"]
