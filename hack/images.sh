#!/usr/bin/env bash
# Builds the container images the local node runs, with no Docker engine and
# no registry: each is a one-layer docker-archive (what `docker save` writes)
# made from a root filesystem with tar, sha256sum and jq, for
# `ctr -n k8s.io images import`. Cached under ~/.cache/holdfast/images/ by a
# key over everything that goes into the image (this script's builder, the
# versions, the files it copies), so a warm run only imports.
#
#   hack/images.sh [IMAGE...]     build what is missing; prints "REF TARBALL" per image
#   hack/images.sh --list         the images the node imports at start
#
# Images (REF as pods name them):
#   localhost/pause:$PAUSE_VERSION         the sandbox; pause.c of the pinned k8s.io/kubernetes, static
#   localhost/coredns:$COREDNS_VERSION     the static CoreDNS of hack/build-tools.sh, user nonroot 65532
#   localhost/holdfast-postgres:15         PostgreSQL 15 from Debian bookworm
#   localhost/holdfast-postgres:17         PostgreSQL 17 from Debian trixie
#   localhost/holdfast:dev                 `holdfast` (backup jobs) compiled from this checkout, on
#                                          Debian trixie's Node.js and PostgreSQL 17 client
# PostgreSQL 16 is in no Debian release, so there is no local 16 image.
# The PostgreSQL images keep the contract of the official postgres image that
# the Dedicated builder relies on (POSTGRES_USER/_DB/_PASSWORD_FILE/_INITDB_ARGS,
# PGDATA, arguments after the image name go to postgres, uid/gid 999), but are
# Debian's packages, not the official image: their contents follow the mirror.
# The Holdfast image is tagged dev, not by its key: the operator and the tests
# name it once, as they name the PostgreSQL images, and a rebuilt one replaces
# the last in the node's image store (which never collects images) instead of
# adding one image per edit of the sources.
set -euo pipefail
HACK=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HACK/.." && pwd)
# shellcheck source=versions.env
source "$HACK/versions.env"
CACHE=${HOLDFAST_CACHE:-$HOME/.cache/holdfast}
IMAGES="$CACHE/images"
DEBIAN_MIRROR=${HOLDFAST_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ALL=(pause coredns postgres-15 postgres-17 holdfast)

log() { printf '[images] %s\n' "$*" >&2; }

ref_of() {
  case $1 in
    pause) echo "localhost/pause:$PAUSE_VERSION" ;;
    coredns) echo "localhost/coredns:$COREDNS_VERSION" ;;
    postgres-15 | postgres-17) echo "localhost/holdfast-postgres:${1#postgres-}" ;;
    holdfast) echo "localhost/holdfast:dev" ;;
    *) echo "unknown image: $1 (${ALL[*]})" >&2; return 2 ;;
  esac
}

# mkimage ROOTFS REF CONFIG_JSON OUT: one layer, the whole of ROOTFS, owned as it is on disk.
mkimage() {
  local rootfs=$1 ref=$2 config=$3 out=$4 tmp diff cfg
  tmp=$(mktemp -d "$IMAGES/.mk.XXXXXX")
  tar -C "$rootfs" --numeric-owner --sort=name -cf "$tmp/layer.tar" .
  diff=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
  mkdir "$tmp/$diff"; mv "$tmp/layer.tar" "$tmp/$diff/layer.tar"
  jq -n --argjson c "$config" --arg d "sha256:$diff" '{
    architecture: "amd64", os: "linux", config: $c,
    rootfs: {type: "layers", diff_ids: [$d]},
    history: [{created_by: "hack/images.sh"}]}' >"$tmp/config.json"
  cfg=$(sha256sum "$tmp/config.json" | cut -d' ' -f1)
  mv "$tmp/config.json" "$tmp/$cfg.json"
  jq -n --arg c "$cfg.json" --arg r "$ref" --arg l "$diff/layer.tar" \
    '[{Config: $c, RepoTags: [$r], Layers: [$l]}]' >"$tmp/manifest.json"
  tar -C "$tmp" -cf "$out.tmp" manifest.json "$cfg.json" "$diff"
  mv "$out.tmp" "$out"
  rm -rf "$tmp"
}

passwd_files() { # <rootfs> <name> <uid>: just enough for a non-root user
  mkdir -p "$1/etc"
  printf 'root:x:0:0:root:/root:/sbin/nologin\n%s:x:%s:%s:%s:/nonexistent:/sbin/nologin\n' "$2" "$3" "$3" "$2" >"$1/etc/passwd"
  printf 'root:x:0:\n%s:x:%s:\n' "$2" "$3" >"$1/etc/group"
}

build_pause() { # <out>
  local r=$1.rootfs src
  src=$(go mod download -json "k8s.io/kubernetes@v$KUBERNETES_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  rm -rf "$r"; mkdir -p "$r"
  gcc -Os -static -Wall -Werror -DVERSION="v$PAUSE_VERSION-holdfast" -o "$r/pause" "$src/build/pause/linux/pause.c"
  strip "$r/pause"
  mkimage "$r" "$(ref_of pause)" '{"Entrypoint":["/pause"],"User":"65535:65535"}' "$1"
  rm -rf "$r"
}

build_coredns() { # <out>
  local r=$1.rootfs bin
  bin=$("$HACK/build-tools.sh" --print-dir coredns)
  "$HACK/build-tools.sh" coredns
  rm -rf "$r"; mkdir -p "$r/tmp"; chmod 1777 "$r/tmp"
  cp "$bin/coredns" "$r/coredns"
  passwd_files "$r" nonroot 65532
  mkimage "$r" "$(ref_of coredns)" '{"Entrypoint":["/coredns"],"User":"65532:65532","ExposedPorts":{"53/udp":{},"53/tcp":{}}}' "$1"
  rm -rf "$r"
}

# The entrypoint of the PostgreSQL images; see the comment at its top.
ENTRYPOINT=$HACK/images/postgres-entrypoint.sh

# A build killed inside debootstrap or a chroot leaves /proc (and debootstrap's
# /sys) mounted in the rootfs: unmount them first, never rm -rf through them.
unmount_in() { # <dir>
  local m
  for m in $(findmnt -rno TARGET | awk -v d="$1/" 'index($0, d) == 1' | sort -r); do umount "$m"; done
}

# debootstrap's minbase of a suite (dpkg, apt and essentials only), the slowest
# step of a cold build, cached on its own so that the images of one suite
# share it. The suite's own sources.list, never the host's (a bookworm host
# building trixie).
debian_base() { # <suite>: prints the path of the tarball
  local suite=$1 key tar r
  key=$( { declare -f debian_base unmount_in; echo "$suite $DEBIAN_MIRROR"; } | sha256sum | cut -c1-16)
  tar="$IMAGES/rootfs/debian-$suite-$key.tar"
  if [[ -f $tar ]]; then echo "$tar"; return; fi
  r="$tar.d"
  unmount_in "$r"
  rm -rf "$r" "$IMAGES/rootfs/debian-$suite-"*; mkdir -p "$r"
  debootstrap --variant=minbase "$suite" "$r" "$DEBIAN_MIRROR" >"$tar.log" 2>&1 ||
    { tail -20 "$tar.log" >&2; return 1; }
  # The downloaded .debs go; the package lists stay, so that the images'
  # apt-get update finds them current and downloads nothing.
  chroot "$r" apt-get clean
  tar -C "$r" --numeric-owner -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
  rm -rf "$r" "$tar.log"
  echo "$tar"
}

# The Debian part of an image: a suite's minbase plus packages (apt, the slow
# part), cached on its own so that changing what the image adds on top
# reuses it. PREPARE runs on the rootfs before apt: users and settings that
# the packages' maintainer scripts read.
apt_rootfs() { # <name> <suite> <prepare> <package...>: prints the path of the rootfs tarball
  local name=$1 suite=$2 prepare=$3 key tar r base; shift 3
  key=$( { declare -f apt_rootfs debian_base unmount_in "$prepare"; echo "$suite $DEBIAN_MIRROR $*"; } | sha256sum | cut -c1-16)
  tar="$IMAGES/rootfs/$name-$key.tar"
  if [[ -f $tar ]]; then echo "$tar"; return; fi
  base=$(debian_base "$suite")
  r="$tar.d"
  unmount_in "$r"
  rm -rf "$r" "$IMAGES/rootfs/$name-"*; mkdir -p "$r"
  tar -C "$r" --numeric-owner -xf "$base"
  "$prepare" "$r"
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"; chmod +x "$r/usr/sbin/policy-rc.d"
  mount -t proc proc "$r/proc"
  local rc=0
  chroot "$r" env DEBIAN_FRONTEND=noninteractive sh -c \
    "apt-get update -qq && apt-get install -y -qq --no-install-recommends $*" >"$tar.apt.log" 2>&1 || rc=$?
  umount "$r/proc"
  [[ $rc == 0 ]] || { tail -20 "$tar.apt.log" >&2; return 1; }
  rm -f "$r/usr/sbin/policy-rc.d"
  chroot "$r" apt-get clean
  rm -rf "$r"/var/lib/apt/lists/* "$r"/usr/share/doc "$r"/usr/share/man "$r"/usr/share/info \
    "$r"/usr/share/locale "$r"/var/cache/debconf/*-old "$r"/var/log/* "$r"/tmp/* "$r"/dev/*
  tar -C "$r" --numeric-owner -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
  rm -rf "$r" "$tar.apt.log"
  echo "$tar"
}

# uid/gid 999 as in the official image, which the Dedicated builder runs as;
# postgresql-common keeps an existing postgres user. No cluster at install:
# the entrypoint runs initdb in the pod's volume.
prepare_postgres() { # <rootfs>
  chroot "$1" groupadd --system --gid 999 postgres
  chroot "$1" useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres
  mkdir -p "$1/etc/postgresql-common/createcluster.d"
  echo 'create_main_cluster = false' >"$1/etc/postgresql-common/createcluster.d/holdfast.conf"
}

build_postgres() { # <out> <major> <suite>
  local out=$1 major=$2 suite=$3 r=$1.rootfs base
  mkdir -p "$IMAGES/rootfs"
  base=$(apt_rootfs "postgres-$major" "$suite" prepare_postgres "postgresql-$major" ca-certificates)
  rm -rf "$r"; mkdir -p "$r"
  tar -C "$r" --numeric-owner -xf "$base"
  # As the official image does: the server listens on every address of the
  # pod (Debian's default is localhost only); pg_hba decides who gets in.
  sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$r/usr/share/postgresql/$major/postgresql.conf.sample"
  grep -q "^listen_addresses = '\*'" "$r/usr/share/postgresql/$major/postgresql.conf.sample"
  install -m 0755 "$ENTRYPOINT" "$r/usr/local/bin/docker-entrypoint.sh"
  # /run, not /var/run: that is an absolute symlink, which outside a chroot
  # points at the host's /run.
  install -d -o 999 -g 999 -m 3775 "$r/run/postgresql"
  install -d -o 999 -g 999 -m 0700 "$r/var/lib/postgresql/data"
  local config
  config=$(jq -n --arg m "$major" '{
    Entrypoint: ["docker-entrypoint.sh"], Cmd: ["postgres"], User: "999:999", StopSignal: "SIGINT",
    Env: ["PATH=/usr/lib/postgresql/\($m)/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          "PG_MAJOR=\($m)", "LANG=C.UTF-8", "PGDATA=/var/lib/postgresql/data"],
    ExposedPorts: {"5432/tcp": {}}, Volumes: {"/var/lib/postgresql/data": {}}}')
  mkimage "$r" "$(ref_of "postgres-$major")" "$config" "$out"
  rm -rf "$r"
}
build_postgres-15() { build_postgres "$1" 15 bookworm; }
build_postgres-17() { build_postgres "$1" 17 trixie; }

# The Holdfast image: the one `holdfast` entry point that backup jobs (and in
# time the operator and the console) run, on Debian trixie's Node.js and its
# PostgreSQL 17 client, the newest major Holdfast dumps. The Dockerfile at the
# repository root describes the same image for Docker and buildah.

# nonroot 65532, as in distroless images and the backup pods' securityContext;
# written, not useradd'ed, which warns that 65532 is no system uid.
prepare_holdfast() { # <rootfs>
  echo 'nonroot:x:65532:' >>"$1/etc/group"
  echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/usr/sbin/nologin' >>"$1/etc/passwd"
}

# The production node_modules, installed from a copy of package.json and the
# lockfile (never in the checkout, whose node_modules the tools use) and
# cached on its own by the lockfile: a change to the sources reuses it.
# --ignore-scripts: native code in the production tree comes as prebuilt
# optional packages (@node-rs/argon2-linux-x64-gnu), nothing needs a script.
# --prefer-offline: hack/lib.sh's npm ci has just filled npm's cache.
holdfast_node_modules() { # prints the path of the tarball
  local key tar tmp
  key=$( { declare -f holdfast_node_modules; cat "$ROOT/package.json" "$ROOT/package-lock.json"; } | sha256sum | cut -c1-16)
  tar="$IMAGES/rootfs/node-modules-$key.tar"
  if [[ -f $tar ]]; then echo "$tar"; return; fi
  rm -f "$IMAGES/rootfs/node-modules-"*
  tmp=$(mktemp -d "$IMAGES/.npm.XXXXXX")
  cp "$ROOT/package.json" "$ROOT/package-lock.json" "$tmp/"
  (cd "$tmp" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error --prefer-offline) \
    >"$tmp.log" 2>&1 || { tail -20 "$tmp.log" >&2; rm -rf "$tmp" "$tmp.log"; return 1; }
  # Type declarations and source maps are for editors and debuggers, and
  # typescript is there only as an optional peer of @remix-run/node for its
  # types: nothing loads them at run time, and they are 40% of the tree.
  find "$tmp/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.[cm]ts' -o -name '*.map' \) -delete
  rm -rf "$tmp/node_modules/typescript" "$tmp/node_modules/.bin/"{tsc,tsserver}
  tar -C "$tmp" --sort=name -cf "$tar.tmp" node_modules && mv "$tar.tmp" "$tar"
  rm -rf "$tmp" "$tmp.log"
  echo "$tar"
}

# What `npm run build` compiles, by content: the sources tsc and Vite read
# (tests and notes aside), their configuration and the lockfile. The key is
# over these, not over dist/: a checkout's dist/ and build/ can be older than
# its sources, so the image is compiled from the sources, and deciding that a
# warm run has nothing to build must not take a compile.
holdfast_sources() (
  cd "$ROOT"
  find cli kube operator console app -type f ! -name '*.test.ts' ! -name '*.test.tsx' ! -name '*.md' -print0 |
    sort -z | xargs -0 sha256sum
  sha256sum package.json package-lock.json tsconfig.json tsconfig.build.json vite.config.ts
)

build_holdfast() { # <out>
  local out=$1 r=$1.rootfs base modules version node
  [[ -x $ROOT/node_modules/.bin/tsc ]] ||
    { echo "the Holdfast image is compiled with the checkout's tools: npm ci first (hack/test and hack/up do)" >&2; return 1; }
  mkdir -p "$IMAGES/rootfs"
  base=$(apt_rootfs holdfast trixie prepare_holdfast nodejs postgresql-client-17 ca-certificates)
  modules=$(holdfast_node_modules)
  rm -rf "$r"; mkdir -p "$r"
  tar -C "$r" --numeric-owner -xf "$base"
  node=$(chroot "$r" /usr/bin/node --version)
  node "$ROOT/node_modules/semver/bin/semver.js" -r "$(jq -r .engines.node "$ROOT/package.json")" "$node" >/dev/null ||
    { echo "Debian's Node.js $node does not satisfy package.json engines.node" >&2; return 1; }
  # Owned by root and read-only to the user the image runs as.
  install -d -m 0755 "$r/app" "$r/app/console/db"
  tar -C "$r/app" -xf "$modules"
  # tsc emits despite type errors (exit 2): hack/test's typecheck reports
  # them, and the node still gets an image to run backup jobs with.
  local rc=0
  (cd "$ROOT" && node_modules/.bin/tsc -p tsconfig.build.json --outDir "$r/app/dist") >"$out.tsc.log" 2>&1 || rc=$?
  case $rc in
    0) ;;
    2) log "holdfast: compiled with type errors (first: $(head -1 "$out.tsc.log"))" ;;
    *) tail -20 "$out.tsc.log" >&2; return 1 ;;
  esac
  rm -f "$out.tsc.log"
  # The console's UI: 0.4 MB and some seconds, and the same image then serves `holdfast console`.
  (cd "$ROOT" && HOLDFAST_UI_BUILD_DIR="$r/app/build" node_modules/.bin/remix vite:build) >"$out.vite.log" 2>&1 ||
    { tail -20 "$out.vite.log" >&2; return 1; }
  rm -f "$out.vite.log"
  cp -r "$ROOT/console/db/migrations" "$r/app/console/db/"
  cp "$ROOT/package.json" "$r/app/"
  chown -R 0:0 "$r/app"; chmod -R u=rwX,go=rX "$r/app"
  # As its user, the entry point loads the backup command and all it imports,
  # and refuses a missing configuration: no production dependency is missing.
  [[ -x $r/usr/lib/postgresql/17/bin/pg_dump ]] || { echo "holdfast image: no pg_dump 17" >&2; return 1; }
  local smoke
  smoke=$(env -i /usr/sbin/chroot --userspec=65532:65532 "$r" /usr/bin/node /app/dist/cli/main.js \
    backup --config /nonexistent 2>&1) || true
  [[ $smoke == *'backup not started: cannot read the backup configuration /nonexistent'* ]] ||
    { echo "holdfast image: the entry point does not run: $smoke" >&2; return 1; }
  version=$(jq -r .version "$ROOT/package.json")
  # pg_dump from PATH is PostgreSQL 17's own binary, not Debian's pg_wrapper
  # (a Perl script that picks a version): the data path runs no Perl.
  local config
  config=$(jq -n --arg v "$version" '{
    Entrypoint: ["node", "/app/dist/cli/main.js"], User: "65532:65532", WorkingDir: "/app",
    Env: ["PATH=/usr/lib/postgresql/17/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          "NODE_ENV=production", "HOLDFAST_VERSION=\($v)", "LANG=C.UTF-8"]}')
  mkimage "$r" "$(ref_of holdfast)" "$config" "$out"
  rm -rf "$r"
}

# The cache key: the builder functions' text, the versions and the copied files.
key_of() {
  {
    declare -f mkimage passwd_files "build_$1"
    case $1 in
      pause) echo "$KUBERNETES_VERSION $PAUSE_VERSION" ;;
      coredns) echo "$COREDNS_VERSION" ;;
      postgres-*) declare -f build_postgres apt_rootfs debian_base unmount_in prepare_postgres; cat "$ENTRYPOINT"; echo "$DEBIAN_MIRROR" ;;
      holdfast)
        declare -f apt_rootfs debian_base unmount_in prepare_holdfast holdfast_node_modules holdfast_sources
        echo "$DEBIAN_MIRROR"; holdfast_sources ;;
    esac
  } | sha256sum | cut -c1-16
}

build() { # <image>: prints "REF TARBALL"
  local name=$1 ref key out start
  ref=$(ref_of "$name")
  key=$(key_of "$name")
  out="$IMAGES/$name-$key.tar"
  if [[ ! -f $out ]]; then
    start=$(date +%s%N)
    log "$name: building $ref (first time with these inputs; later runs reuse it)"
    rm -f "$IMAGES/$name"-*.tar
    "build_$name" "$out"
    log "$name: built in $(( ($(date +%s%N) - start) / 1000000 )) ms, $(du -m "$out" | cut -f1) MB"
  fi
  echo "$ref $out"
}

if [[ ${1:-} == --list ]]; then printf '%s\n' "${ALL[@]}"; exit; fi
[[ $(id -u) == 0 ]] || { echo "hack/images.sh: debootstrap and chroot need root" >&2; exit 1; }
mkdir -p "$IMAGES"
names=("$@"); [[ ${#names[@]} -gt 0 ]] || names=("${ALL[@]}")
for n in "${names[@]}"; do build "$n"; done
