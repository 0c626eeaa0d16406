# syntax=docker/dockerfile:1
# osfleet controller image. Build from the repository root:
#   docker build -f deploy/images/controller.Dockerfile -t <registry>/osfleet/controller:<version> .
#
# Base images are pinned by digest (multi-arch index digests), so rebuilding a
# commit starts from the same bytes and a retagged upstream image cannot slip
# in. To move to newer bases, resolve the tags and replace the digests, e.g.
#   docker buildx imagetools inspect node:24-bookworm-slim
#   docker buildx imagetools inspect gcr.io/distroless/nodejs24-debian12:latest
# Keep both on the same Debian release (bookworm = debian12).
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:a9f5f7c91a432850b2a8a7797adf5eadb6c733ceed61167806cee7ea7fbc29df
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12@sha256:61f4f4341db81820c24ce771b83d202eb6452076f58628cd536cc7d94a10978b

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

# Runtime: Node and CA certificates, no shell, no package manager.
FROM ${RUNTIME_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
# package.json stays: its "type": "module" makes Node load dist/ as ESM.
COPY --from=deps /app/package.json /app/package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/policies ./policies
# distroless's "nonroot" user; the Deployment also sets runAsNonRoot and this uid.
USER 65532:65532
# --optimize-for-size: V8 trades a little speed for memory; with 10k nodes cached the controller
# stays ~40 MB smaller (npm run bench -- rollout measures the executor with these flags).
ENTRYPOINT ["/nodejs/bin/node", "--optimize-for-size", "/app/bin/osfleet.js", "controller"]
