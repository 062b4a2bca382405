# syntax=docker/dockerfile:1
#
# PRISM Agent image: docker build -t prism-agent --build-arg VERSION=$(git describe --always) .
#
# The agent is pure Go (SQLite through modernc.org/sqlite), so it builds with
# CGO_ENABLED=0 into a static binary. The runtime is Alpine rather than
# distroless because the compose setup needs a shell: its entrypoint
# (deploy/compose/with-env.sh) reads the settings that `prism-agent vault
# bootstrap` writes at run time, and the health checks use busybox wget.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/prism-agent ./cmd/prism-agent

FROM alpine:3.22
# A fixed uid, so that volumes and the secret id file written by the bootstrap
# container (same image) belong to the same user as the agent.
RUN addgroup -S -g 10001 prism \
 && adduser -S -D -H -u 10001 -G prism -h /var/lib/prism -s /sbin/nologin prism \
 && mkdir -p /var/lib/prism /run/prism \
 && chown prism:prism /var/lib/prism /run/prism \
 && chmod 0700 /var/lib/prism /run/prism
COPY --from=build /out/prism-agent /usr/local/bin/prism-agent

# In a container the loopback address is reachable from the container only:
# listen on every interface and let the network (and APISIX) decide who
# connects.
ENV AGENT_HTTP_HOST=0.0.0.0 \
    AGENT_HTTP_PORT=8085 \
    PRISM_DATA_DIR=/var/lib/prism

USER 10001:10001
WORKDIR /var/lib/prism
# The embedded stores and generated keys (master key, admin token, API-key
# hash key); with Vault and PostgreSQL only the hash key and admin token.
VOLUME ["/var/lib/prism"]
EXPOSE 8085

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD wget -q -O /dev/null "http://127.0.0.1:${AGENT_HTTP_PORT}/_system/health" || exit 1

ENTRYPOINT ["/usr/local/bin/prism-agent"]
CMD ["serve"]
