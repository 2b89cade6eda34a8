# jwtgate container image: build with the Rust toolchain, run from a minimal image.
#
#   docker build -t jwtgate .
#   docker run --rm -p 8080:8080 -v "$PWD/my-jwtgate.toml:/etc/jwtgate/jwtgate.toml:ro" jwtgate
#
# The runtime image (distroless cc, Debian 12) has glibc, libgcc and CA certificates, runs as the
# unprivileged user 65532, and has no shell: there is no HEALTHCHECK command to run inside it.
# Probe it from outside instead, as deploy/kubernetes/deployment.yaml and deploy/compose.yaml do:
#   liveness  GET /healthz  (200 while the process serves)
#   readiness GET /readyz   (200 once every configured issuer's keys are loaded)

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Manifests first, so the dependency download is cached while only sources change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo fetch --locked \
    && rm -rf src
COPY src ./src
RUN cargo build --release --locked --bin jwtgate \
    && strip target/release/jwtgate

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/jwtgate /usr/local/bin/jwtgate
COPY config/jwtgate.toml /etc/jwtgate/jwtgate.toml
# Listen on every interface inside the container; log one JSON object per line.
ENV JWTGATE__SERVER__BIND=0.0.0.0:8080 \
    JWTGATE__LOG__FORMAT=json
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/jwtgate"]
CMD ["--config", "/etc/jwtgate/jwtgate.toml"]
