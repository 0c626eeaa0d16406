# syntax=docker/dockerfile:1
# osfleet node agent image. Build from the repository root:
#   docker build -f deploy/images/agent.Dockerfile -t <registry>/osfleet/agent:<version> .
#
# The runtime is Debian slim rather than distroless because the agent reboots
# the node with `chroot /host systemctl reboot` and needs a `chroot` binary;
# every other host effect is done by the agent itself, so nothing else is
# installed. The base is pinned by its multi-arch index digest; to move to a
# newer one, resolve the tag and replace the digest, e.g.
#   docker buildx imagetools inspect node:24-bookworm-slim
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:a9f5f7c91a432850b2a8a7797adf5eadb6c733ceed61167806cee7ea7fbc29df

# Compile TypeScript to dist/ with the full dependency set.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Scripts off here: `prepare` would compile before the sources are copied.
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build

# Production dependencies only. No scripts: `prepare` needs TypeScript, and
# none of osfleet's dependencies has an install script.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts

FROM ${NODE_IMAGE}
# The agent needs no package manager at run time; drop it to shrink what a
# compromised agent could use.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg
WORKDIR /app
ENV NODE_ENV=production
# package.json stays: its "type": "module" makes Node load dist/ as ESM.
COPY --from=deps /app/package.json /app/package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/policies ./policies
COPY --from=build /src/agent/boot ./agent/boot
# Root on purpose: the agent writes block devices, /proc/sys and the boot
# loader. The DaemonSet runs it privileged; see deploy/base/agent/daemonset.yaml.
USER 0:0
ENTRYPOINT ["node", "/app/bin/osfleet.js", "agent"]
