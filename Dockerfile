# syntax=docker/dockerfile:1
# The nocwatch container image: docs/deploy.md#container-image.
#
#   docker build -t nocwatch .             (or: podman build -t nocwatch .)
#   docker run --rm -p 514:5514/udp -p 5515:5515 -e IP_ADDRESSES=10.20.0.1 \
#     -e COMMUNITY_STRING=... -e DD_API_KEY=... -v nocwatch-data:/var/lib/nocwatch nocwatch
#
# Config: /etc/nocwatch/nocwatch.yaml is deploy/nocwatch.yaml, driven by environment
# variables (the seed's IP_ADDRESSES, COMMUNITY_STRING, DD_API_KEY, ...); mount your own
# file over it, or point NOCWATCH_CONFIG elsewhere.
#
# Runs as the unprivileged user 65532 with no capabilities, so it listens on ports >= 1024
# (the load balancer or `-p` maps 514/162/123 onto them). Binding the privileged ports
# themselves needs CAP_NET_BIND_SERVICE (`--cap-add NET_BIND_SERVICE` is not enough for a
# non-root user: also set the sysctl net.ipv4.ip_unprivileged_port_start=0, which Docker,
# ECS and Kubernetes allow per container). The ping source needs unprivileged ICMP sockets
# (net.ipv4.ping_group_range covering GID 65532: Docker's default since 20.10; podman's
# default allows GID 0 only, so add --sysctl net.ipv4.ping_group_range="0 2147483647") or
# CAP_NET_RAW with root. See docs/deploy.md#ports-below-1024 and #ping-icmp-in-containers.

ARG RUST_IMAGE=docker.io/library/rust:1-slim-bookworm
# glibc, libgcc, CA certificates and /etc/passwd with user nonroot (65532); no shell, no
# package manager. nocwatch needs nothing else at run time (its TLS roots are built in; a
# CA added with tls.ca_file is read from a mounted file).
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p nocwatch \
 && install -D -m 0755 target/release/nocwatch /out/usr/bin/nocwatch \
 && install -D -m 0644 deploy/nocwatch.yaml /out/etc/nocwatch/nocwatch.yaml \
 && install -d /out/var/lib/nocwatch

# Everything below is the runtime image. It has no RUN step (the base has no shell), so a
# test can build it from a locally made base: crates/nocwatch/tests/deploy.rs.
FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=build /out/usr/bin/nocwatch /usr/bin/nocwatch
COPY --from=build /out/etc/nocwatch/ /etc/nocwatch/
COPY --from=build --chown=65532:65532 /out/var/lib/nocwatch/ /var/lib/nocwatch/
USER 65532:65532
ENV NOCWATCH_CONFIG=/etc/nocwatch/nocwatch.yaml \
    NOCWATCH_DATA_DIR=/var/lib/nocwatch \
    NOCWATCH_ADMIN_ADDRESS=0.0.0.0:8686
# syslog UDP+TCP, its health ports; traps, its health port; NTP, its health port; the admin API.
EXPOSE 5514/udp 5514/tcp 5515/tcp 5516/tcp 9162/udp 9163/tcp 1123/udp 1124/tcp 8686/tcp
VOLUME ["/var/lib/nocwatch"]
# /health/live on the admin API, with the binary itself (no curl in the image). Docker
# runs it; ECS and Kubernetes use their own checks (deploy/ecs, deploy/kubernetes).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/bin/nocwatch", "health", "--path", "/health/live"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/nocwatch"]
CMD ["run"]
