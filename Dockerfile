# Builds the ecs-operator image. Not built in this repository's CI (no container
# engine there); the binary it packages is the one the tests run.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY operator operator
COPY tests tests
RUN cargo build --release --locked -p ecs-operator --bin ecs-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/ecs-operator /usr/local/bin/ecs-operator
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/ecs-operator"]
CMD ["run"]
