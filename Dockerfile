# walhook: one static binary on a distroless base, running as non-root.
#
#   docker build --build-arg VERSION=v1.2.3 --build-arg REVISION=$(git rev-parse HEAD) -t walhook .
#
# The default target (the last stage) is the production image, walhook alone. The demo
# receiver of docker-compose.yml is a separate target: docker build --target receiver.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION and REVISION land in "walhook version", the start-up log line and
# walhook_build_info. VCS stamping is off: the build context may hold a worktree's .git file
# that points outside it.
ARG VERSION=dev
ARG REVISION=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/walhook ./cmd/walhook

FROM build AS build-receiver
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w" -o /out/walhook-receiver ./cmd/walhook-receiver

# The demo receiver: verifies signatures and prints deliveries. Not in the production image.
FROM gcr.io/distroless/static-debian12:nonroot AS receiver
COPY --from=build-receiver /out/walhook-receiver /usr/local/bin/walhook-receiver
EXPOSE 9000
USER nonroot
ENTRYPOINT ["/usr/local/bin/walhook-receiver"]

# The production image.
FROM gcr.io/distroless/static-debian12:nonroot AS walhook
ARG VERSION=dev
ARG REVISION=
LABEL org.opencontainers.image.title="walhook" \
      org.opencontainers.image.description="PostgreSQL logical replication to signed, Pipeliner-compatible webhooks" \
      org.opencontainers.image.source="https://github.com/walhook/walhook" \
      org.opencontainers.image.url="https://github.com/walhook/walhook" \
      org.opencontainers.image.documentation="https://github.com/walhook/walhook/blob/main/README.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /out/walhook /usr/local/bin/walhook
EXPOSE 8080
USER nonroot
# No shell or curl in distroless: the binary checks itself (GET /readyz on WALHOOK_LISTEN_ADDR).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["/usr/local/bin/walhook", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/walhook"]
CMD ["run"]
