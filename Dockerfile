# jsonlift in a container: `serve --migrate` as the entry point (seed 000). Not built in CI
# (these machines pull no images): the entry point itself is tested by
# tests/cli/serve.rs::serve_migrate_migrates_then_serves_and_refuses_changed_sources.
#
#   docker build -t jsonlift .
#   docker run -p 4000:4000 -v "$PWD:/data" -e JSONLIFT_TOKEN=... jsonlift
#
# The project (jsonlift.toml, the JSON files, the database, .jsonlift/backups) lives in the
# volume mounted at /data.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY examples examples
RUN cargo build --release --locked --bin jsonlift

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin jsonlift \
    && mkdir -p /data && chown jsonlift /data
COPY --from=build /src/target/release/jsonlift /usr/local/bin/jsonlift
USER jsonlift
WORKDIR /data
VOLUME /data
EXPOSE 4000
# A token is required to listen beyond loopback: pass JSONLIFT_TOKEN (at least 16 characters).
ENV JSONLIFT_TOKEN=""
CMD ["jsonlift", "serve", "--migrate", "--listen", "0.0.0.0:4000"]
