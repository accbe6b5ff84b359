# syntax=docker/dockerfile:1
# The ecs-gitops image: the release binary alone on a distroless runtime, run as the
# non-root user 65532, with no shell and no package manager.
#
#   docker build -t ecs-gitops:0.1.0 .
#
# The binary links glibc, libgcc_s and OpenSSL (git2's https and ssh), so the runtime is
# distroless `cc` (glibc, libgcc, libssl, CA certificates) rather than `static`; builder and
# runtime are the same Debian release (13, trixie), so the libraries match.

FROM rust:1.95-trixie AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Cargo.toml declares the benches, so cargo wants their files too.
COPY Cargo.toml Cargo.lock ./
COPY benches benches
COPY src src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin ecs-gitops \
 && install -m 755 target/release/ecs-gitops /ecs-gitops

FROM gcr.io/distroless/cc-debian13:nonroot
COPY --from=build /ecs-gitops /usr/local/bin/ecs-gitops
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ecs-gitops"]
CMD ["controller", "--listen=0.0.0.0:8080"]
