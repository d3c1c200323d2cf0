# walhook: one static binary on a distroless base, running as non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/walhook ./cmd/walhook \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/walhook-receiver ./cmd/walhook-receiver

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/walhook /out/walhook-receiver /usr/local/bin/
EXPOSE 8080
USER nonroot
ENTRYPOINT ["/usr/local/bin/walhook"]
CMD ["run"]
