# The ml-connector binary in a small image. Build from the repository root:
#   docker build -t ml-connector .
# Run the daemon (config, state and vault in /data; secrets from the environment or the vault):
#   docker run -d --name ml-connector -v /srv/ml-connector:/data \
#     -e ACUMATICA_CLIENT_SECRET -e ACUMATICA_PASSWORD -e LOOKERSDK_CLIENT_SECRET \
#     -p 127.0.0.1:9464:9464 ml-connector
# `docker stop` sends SIGTERM and kills after 10 s: keep --stop-timeout below `docker stop -t`
# (the default command uses 8 s; or run `docker stop -t 30` with --stop-timeout 20).
# At run time the image needs no network beyond Acumatica and Looker (and the PostgreSQL store
# if one is configured): TLS roots are built into the binary (rustls).

FROM rust:1.94-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p connector-examples --bin ml-connector \
 && install -m 0755 target/release/ml-connector /usr/local/bin/ml-connector

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /data --shell /usr/sbin/nologin ml-connector \
 && mkdir -p /data && chown ml-connector /data
COPY --from=build /usr/local/bin/ml-connector /usr/local/bin/ml-connector
USER ml-connector
WORKDIR /data
ENV ML_CONNECTOR_CONFIG=/data/ml-connector.toml \
    ML_CONNECTOR_LOG_FORMAT=json
EXPOSE 9464
# As PID 1 the connector gets SIGTERM itself: it handles it (no init process needed).
ENTRYPOINT ["ml-connector"]
CMD ["run", "--stop-timeout", "8", "--listen", "0.0.0.0:9464"]
