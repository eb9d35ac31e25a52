#!/usr/bin/env bash
# Holdfast on kind, for those with Docker: a kind cluster, the image built
# from the Dockerfile and loaded into it, then hack/up, which installs the
# chart from that image on the current context (kind's), creates the sample
# workspace and prints the console's address and one-time password.
#
#   hack/kind-up.sh [CLUSTER]      (default: holdfast)
#
# Needs docker and kind on PATH. Where Docker cannot run, hack/up starts a
# local control plane and node instead.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLUSTER=${1:-holdfast}
IMAGE=localhost/holdfast:dev
for tool in docker kind; do
  command -v "$tool" >/dev/null || { echo "hack/kind-up.sh needs $tool on PATH (or run hack/up, which needs neither)" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "the Docker engine does not answer: start it, or run hack/up" >&2; exit 1; }

if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --wait 120s
fi
kind export kubeconfig --name "$CLUSTER"

docker build -t "$IMAGE" --build-arg HOLDFAST_VERSION="$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")" "$ROOT"
kind load docker-image "$IMAGE" --name "$CLUSTER"

# hack/up, when it found Docker and called this, goes on by itself.
[[ -n ${HOLDFAST_FROM_UP:-} ]] && exit 0
# The image is on the node under a name no registry serves: never pulled.
cd "$ROOT"
HOLDFAST_IMAGE=$IMAGE HOLDFAST_IMAGE_PULL_POLICY=Never exec hack/up
