# syntax=docker/dockerfile:1
# The Holdfast image: the one `holdfast` entry point (backup jobs run it; the
# operator and the console are its other subcommands) on Debian trixie's
# Node.js and PostgreSQL 17 client, as user nonroot (65532).
#
#   docker build -t holdfast .        or        buildah build -t holdfast .
#
# Behind a proxy that inspects TLS, give npm the proxy's CA as the secret
# npm-ca (with none, npm trusts Debian's CAs):
#
#   buildah build --secret id=npm-ca,src=/etc/ssl/certs/ca-certificates.crt -t holdfast .
#
# hack/images.sh builds this file with buildah for the local node and the
# tests, on a debian:trixie-slim it makes from Debian packages.

# Node.js here only compiles and installs: Debian trixie's, as the image runs.
FROM debian:trixie-slim AS node
RUN apt-get update \
  && apt-get install --no-install-recommends -y nodejs npm ca-certificates \
  && rm -rf /var/lib/apt/lists/*

FROM node AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm-ca \
  if [ -s /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi \
  && npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json vite.config.ts ./
COPY cli cli
COPY kube kube
COPY operator operator
COPY console console
COPY app app
# `npm run build`: the program (dist/) and the console's UI (build/).
RUN npx tsc -p tsconfig.build.json && npx remix vite:build

FROM node AS modules
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: native code in the production tree comes as prebuilt
# optional packages. Type declarations, source maps and typescript (an
# optional peer of @remix-run/node, for its types) are never loaded at run
# time and are 40% of the tree.
RUN --mount=type=secret,id=npm-ca \
  if [ -s /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi \
  && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.[cm]ts' -o -name '*.map' \) -delete \
  && rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver

FROM debian:trixie-slim
# Node.js 20 (package.json engines), pg_dump and pg_restore 17: the newest
# major Holdfast dumps, which reads every older server.
RUN apt-get update \
  && apt-get install -y --no-install-recommends nodejs postgresql-client-17 ca-certificates \
  && rm -rf /var/lib/apt/lists/* \
  && echo 'nonroot:x:65532:' >>/etc/group \
  && echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/usr/sbin/nologin' >>/etc/passwd
# The release, recorded in every backup's manifest: package.json's version.
ARG HOLDFAST_VERSION=0.1.0
# pg_dump from PATH is PostgreSQL 17's own binary, not Debian's pg_wrapper (a
# Perl script that picks a version): the data path runs no Perl.
ENV PATH=/usr/lib/postgresql/17/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  NODE_ENV=production \
  HOLDFAST_VERSION=$HOLDFAST_VERSION \
  LANG=C.UTF-8
WORKDIR /app
COPY --from=modules /src/node_modules node_modules
COPY --from=build /src/dist dist
COPY --from=build /src/build build
COPY console/db/migrations console/db/migrations
COPY package.json ./
USER 65532:65532
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
