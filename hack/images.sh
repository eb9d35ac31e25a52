#!/usr/bin/env bash
# Builds the container images the local node runs, with no Docker engine and
# no registry, as docker-archives (what `docker save` writes) for
# `ctr -n k8s.io images import`: Holdfast's own from its Dockerfile with
# buildah; the others as one layer made from a root filesystem with tar,
# sha256sum and jq. Cached under ~/.cache/holdfast/images/ by a key over
# everything that goes into the image (this script's builder, the versions,
# the files it copies), so a warm run only imports.
#
#   hack/images.sh [IMAGE...]     build what is missing; prints "REF TARBALL" per image
#   hack/images.sh --list         the images the node imports at start
#
# Images (REF as pods name them):
#   localhost/pause:$PAUSE_VERSION         the sandbox; pause.c of the pinned k8s.io/kubernetes, static
#   localhost/coredns:$COREDNS_VERSION     the static CoreDNS of hack/build-tools.sh, user nonroot 65532
#   localhost/holdfast-postgres:15         PostgreSQL 15 from Debian bookworm
#   localhost/holdfast-postgres:17         PostgreSQL 17 from Debian trixie
#   localhost/cloudnative-pg:$CLOUDNATIVE_PG_VERSION
#                                          CloudNativePG's operator (hack/build-tools.sh cloudnative-pg)
#   localhost/cloudnative-pg-postgresql:17 PostgreSQL 17 from Debian trixie as CloudNativePG runs it
#   localhost/holdfast:dev                 the Dockerfile, built by buildah from this checkout:
#                                          `holdfast` on Debian trixie's Node.js and PostgreSQL 17 client
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
ALL=(pause coredns postgres-15 postgres-17 cloudnative-pg cnpg-postgres-17 holdfast)

log() { printf '[images] %s\n' "$*" >&2; }

ref_of() {
  case $1 in
    pause) echo "localhost/pause:$PAUSE_VERSION" ;;
    coredns) echo "localhost/coredns:$COREDNS_VERSION" ;;
    postgres-15 | postgres-17) echo "localhost/holdfast-postgres:${1#postgres-}" ;;
    cloudnative-pg) echo "localhost/cloudnative-pg:$CLOUDNATIVE_PG_VERSION" ;;
    cnpg-postgres-17) echo "localhost/cloudnative-pg-postgresql:17" ;;
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

# CloudNativePG's operator image as its own Dockerfile lays it out: at start
# the operator globs the relative path operator/manager_* to learn which
# instance managers it can hand to PostgreSQL pods (without it every Cluster
# keeps an empty status), and /manager is also the init container that copies
# itself into each instance pod.
build_cloudnative-pg() { # <out>
  local r=$1.rootfs bin
  bin=$("$HACK/build-tools.sh" --print-dir cloudnative-pg)
  "$HACK/build-tools.sh" cloudnative-pg
  rm -rf "$r"; mkdir -p "$r/operator" "$r/tmp"; chmod 1777 "$r/tmp"
  cp "$bin/manager" "$r/operator/manager_amd64"
  ln -s operator/manager_amd64 "$r/manager"
  passwd_files "$r" nonroot 10001
  mkimage "$r" "$(ref_of cloudnative-pg)" '{"Entrypoint":["/manager"],"User":"10001:10001","WorkingDir":"/"}' "$1"
  rm -rf "$r"
}

# Debian trixie's PostgreSQL 17 as CloudNativePG runs it: its pods run as uid
# and gid 26 and initdb wants a passwd entry for its uid (Debian's gid 26 is
# "tape", which gives way), and its instance manager runs initdb, pg_ctl and
# postgres from PATH, where Debian's /usr/bin has perl wrappers. Barman's
# cloud tools archive WAL and take base backups to S3 (point-in-time
# recovery). The tag is what CloudNativePG reads the major version from.
build_cnpg-postgres-17() { # <out>
  local out=$1 r=$1.rootfs base
  mkdir -p "$IMAGES/rootfs"
  base=$(apt_rootfs cnpg-postgres-17 trixie prepare_postgres postgresql-17 ca-certificates barman-cli-cloud)
  rm -rf "$r"; mkdir -p "$r"
  tar -C "$r" --numeric-owner -xf "$base"
  sed -i -e '/^tape:/d' -e 's/^postgres:x:999:/postgres:x:26:/' "$r/etc/group"
  sed -i -e 's/^postgres:x:999:999:/postgres:x:26:26:/' "$r/etc/passwd"
  find "$r" -xdev -uid 999 -exec chown -h 26 {} +
  find "$r" -xdev -gid 999 -exec chgrp -h 26 {} +
  install -d -o 26 -g 26 -m 3775 "$r/run/postgresql"
  mkimage "$r" "$(ref_of cnpg-postgres-17)" '{
    "User": "26:26", "Cmd": ["postgres"], "StopSignal": "SIGINT",
    "Env": ["PATH=/usr/lib/postgresql/17/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "PG_MAJOR=17", "LANG=C.UTF-8"]}' "$out"
  rm -rf "$r"
}

# The Holdfast image: the Dockerfile at the repository root, built by Debian's
# buildah without a daemon, in a store of its own under the cache. Its FROM
# debian:trixie-slim is made here from Debian packages and imported under that
# name, and the build pulls nothing (--pull=never). buildah keeps each step's
# layer (--layers): a change to the sources reruns the compile and the copies
# only. The host's CAs go to npm as the secret npm-ca, for a network whose
# proxy inspects TLS; a secret is mounted in the steps that ask for it alone
# and is in no layer.
BUILDAH_STORE=$IMAGES/buildah
buildah_() {
  buildah --root "$BUILDAH_STORE/storage" --runroot /run/holdfast-buildah --storage-driver overlay "$@"
}

# debian:<suite>-slim as the official image is made: the suite's minbase with
# the dpkg and apt settings of debuerreotype's slim variant (dpkg installs no
# documentation, manual pages or translations; apt keeps no .debs, caches or
# package lists; services never start in a build).
slim_rootfs() { # <rootfs>
  local r=${1:?slim_rootfs needs the rootfs directory}
  cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/groff/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
EOF
  cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
  printf 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n' >"$r/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"; chmod 0755 "$r/usr/sbin/policy-rc.d"
  find "$r/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin \
    "$r"/var/log/* "$r"/tmp/* "$r"/dev/* "$r/etc/hostname" "$r/etc/resolv.conf"
}

# Imports docker.io/library/debian:<suite>-slim into buildah's store unless
# the one there was made from these inputs (a stamp in the store says so).
slim_base() { # <suite>
  local suite=$1 ref=docker.io/library/debian:$1-slim key stamp base r c
  key=$( { declare -f slim_base slim_rootfs debian_base unmount_in; echo "$suite $DEBIAN_MIRROR"; } | sha256sum | cut -c1-16)
  stamp="$BUILDAH_STORE/storage/holdfast-$suite-slim-$key"
  if [[ -f $stamp ]] && buildah_ inspect --type image "$ref" >/dev/null 2>&1; then return; fi
  base=$(debian_base "$suite")
  r=$(mktemp -d "$IMAGES/.slim.XXXXXX")
  tar -C "$r" --numeric-owner -xf "$base"
  slim_rootfs "$r"
  tar -C "$r" --numeric-owner --sort=name -cf "$r.tar" .
  c=$(buildah_ from scratch)
  buildah_ add --quiet "$c" "$r.tar" / >/dev/null
  buildah_ config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --os linux --arch amd64 "$c"
  buildah_ commit --quiet --rm "$c" "$ref" >/dev/null
  rm -rf "$r" "$r.tar" "$BUILDAH_STORE/storage/holdfast-$suite-slim-"*
  touch "$stamp"
}

# What goes into the image, by content: the Dockerfile, what it copies (tests
# and notes aside, which no step reads) and the lockfile. A checkout's dist/
# and build/ are not in the context: the image is compiled from the sources.
holdfast_sources() (
  cd "$ROOT"
  find cli kube operator console app -type f ! -name '*.test.ts' ! -name '*.test.tsx' ! -name '*.md' -print0 |
    sort -z | xargs -0 sha256sum
  sha256sum Dockerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json vite.config.ts
)

build_holdfast() { # <out>
  local out=$1 ref c version node smoke rc=0
  ref=$(ref_of holdfast)
  command -v buildah >/dev/null ||
    { echo "buildah builds the Holdfast image: apt-get install buildah (hack/test and hack/up do)" >&2; return 1; }
  mkdir -p "$BUILDAH_STORE" "$IMAGES/rootfs"
  slim_base trixie
  version=$(jq -r .version "$ROOT/package.json")
  buildah_ build --pull=never --layers --network host \
    --secret "id=npm-ca,src=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}" \
    --build-arg "HOLDFAST_VERSION=$version" -t "$ref" -f "$ROOT/Dockerfile" "$ROOT" >"$out.build.log" 2>&1 || rc=$?
  [[ $rc == 0 ]] || { tail -30 "$out.build.log" >&2; echo "(all of it: $out.build.log)" >&2; return 1; }
  rm -f "$out.build.log"
  # As its user, the entry point loads the backup command and all it imports,
  # and refuses a missing configuration: no production dependency is missing,
  # pg_dump is PostgreSQL 17's, and Debian's Node.js satisfies package.json.
  # With no network: buildah's default one makes a CNI bridge and firewall
  # chains on this machine and leaves them there.
  c=$(buildah_ from --pull=never "$ref")
  node=$(buildah_ run --network none "$c" -- node --version)
  smoke=$(buildah_ run --network none "$c" -- sh -c 'id -u; pg_dump --version; node /app/dist/cli/main.js backup --config /nonexistent 2>&1' 2>/dev/null || true)
  buildah_ rm "$c" >/dev/null
  node "$ROOT/node_modules/semver/bin/semver.js" -r "$(jq -r .engines.node "$ROOT/package.json")" "$node" >/dev/null ||
    { echo "Debian's Node.js $node does not satisfy package.json engines.node" >&2; return 1; }
  [[ $smoke == 65532$'\n'"pg_dump (PostgreSQL) 17."*'backup not started: cannot read the backup configuration /nonexistent'* ]] ||
    { echo "holdfast image: the entry point does not run as 65532 with pg_dump 17: $smoke" >&2; return 1; }
  buildah_ push --quiet "$ref" "docker-archive:$out.tmp:$ref" && mv "$out.tmp" "$out"
}

# The cache key: the builder functions' text, the versions and the copied files.
key_of() {
  {
    declare -f mkimage passwd_files "build_$1"
    case $1 in
      pause) echo "$KUBERNETES_VERSION $PAUSE_VERSION" ;;
      coredns) echo "$COREDNS_VERSION" ;;
      postgres-*) declare -f build_postgres apt_rootfs debian_base unmount_in prepare_postgres; cat "$ENTRYPOINT"; echo "$DEBIAN_MIRROR" ;;
      cloudnative-pg) echo "$CLOUDNATIVE_PG_VERSION" ;;
      cnpg-postgres-*) declare -f apt_rootfs debian_base unmount_in prepare_postgres; echo "$DEBIAN_MIRROR" ;;
      holdfast)
        declare -f buildah_ slim_base slim_rootfs debian_base unmount_in holdfast_sources
        buildah --version; echo "$DEBIAN_MIRROR"; holdfast_sources ;;
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
[[ $(id -u) == 0 ]] || { echo "hack/images.sh: debootstrap, chroot and buildah's store need root" >&2; exit 1; }
mkdir -p "$IMAGES"
names=("$@"); [[ ${#names[@]} -gt 0 ]] || names=("${ALL[@]}")
for n in "${names[@]}"; do build "$n"; done
