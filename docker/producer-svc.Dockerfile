# syntax=docker/dockerfile:1.7
# producer-svc: HTTP ingest for flash-sale orders: validates, publishes to Kafka, answers 202 after the broker's ack.
#
# Build from the repository root (the context is the whole workspace):
#   docker build -f docker/producer-svc.Dockerfile -t ghcr.io/surge-dev/producer-svc:0.1.0 \
#     --build-arg REVISION=$(git rev-parse HEAD) .
# Base images are build arguments so that a mirror or a digest-pinned base can be
# used without editing this file.
ARG BUILDER_IMAGE=rust:1.89-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# ---- chef: the builder plus cargo-chef ------------------------------------------
FROM ${BUILDER_IMAGE} AS chef
ARG CARGO_CHEF_VERSION=0.1.78
RUN cargo install cargo-chef --locked --version ${CARGO_CHEF_VERSION}
WORKDIR /src

# ---- planner: reduce the workspace to its dependency graph (recipe.json) ----------
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---- builder: dependencies first (cached while Cargo.lock is unchanged), then ours -
FROM chef AS builder
# librdkafka is compiled from source by rdkafka-sys; the bookworm builder image
# already has gcc, make, perl, libssl-dev and zlib.
COPY --from=planner /src/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo chef cook --release --locked --recipe-path recipe.json --package producer-svc
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked --package producer-svc --bin producer-svc \
 && install -D -m 0755 target/release/producer-svc /out/producer-svc \
 && mkdir -p config

# ---- runtime: distroless (glibc, libssl, CA certificates; no shell) ---------------
FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="producer-svc" \
      org.opencontainers.image.description="HTTP ingest for flash-sale orders: validates, publishes to Kafka, answers 202 after the broker's ack." \
      org.opencontainers.image.source="https://github.com/surge-dev/surge" \
      org.opencontainers.image.url="https://github.com/surge-dev/surge" \
      org.opencontainers.image.vendor="surge" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=builder /out/producer-svc /usr/local/bin/producer-svc
# Layered settings (config/base.yaml, config/{SURGE_ENVIRONMENT}.yaml); missing files
# are skipped, so environment variables alone are enough.
COPY --from=builder /src/config /etc/surge/config
ENV SURGE_CONFIG_DIR=/etc/surge/config
WORKDIR /home/nonroot
# distroless "nonroot" = uid/gid 65532, the user the Kubernetes manifests require.
USER 65532:65532
EXPOSE 8080
# No HEALTHCHECK: orchestrators probe /healthz and /readyz over HTTP, and the image
# has no shell or curl to run one.
ENTRYPOINT ["/usr/local/bin/producer-svc"]
