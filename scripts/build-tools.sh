#!/usr/bin/env bash
# Builds the real Kubernetes test-bed binaries (etcd, kube-apiserver,
# kube-controller-manager, kubectl, helm) from the Go modules pinned in
# tests/tools/go.mod, and installs moto's server mode into a virtual environment.
# Skips whatever is already built.
#
# Prints the directory of the binaries on stdout; progress goes to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v go >/dev/null || die "Go is required to build the Kubernetes tools (see README: prerequisites)"
command -v python3 >/dev/null || die "Python 3 is required for moto (see README: prerequisites)"

BIN="$(tools_bin_dir)"
mkdir -p "$BIN"

K8S_VERSION="$(pinned_version k8s.io/kubernetes)"
HELM_VERSION="$(pinned_version helm.sh/helm/v3)"
ETCD_VERSION="$(pinned_version go.etcd.io/etcd/server/v3)"
K8S_MINOR="$(echo "$K8S_VERSION" | cut -d. -f2)"

# Version stamps, so `kubectl version` and the apiserver's /version tell the truth.
K8S_LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$K8S_MINOR \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$K8S_MINOR"
HELM_LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$K8S_MINOR \
 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$K8S_MINOR"

build() { # name package ldflags version
  local name="$1" pkg="$2" ldflags="$3" version="$4"
  if [[ -x "$BIN/$name" ]]; then
    say "$name $version: already built"
    return
  fi
  say "$name $version: building from $pkg (a few minutes on 2 cores)"
  local start=$SECONDS
  (cd "$TOOLS_MODULE" && CGO_ENABLED=0 go build -mod=mod -buildvcs=false -trimpath \
      -ldflags "$ldflags" -o "$BIN/$name.partial" "$pkg")
  mv "$BIN/$name.partial" "$BIN/$name"
  say "$name $version: built in $((SECONDS - start))s"
}

build etcd go.etcd.io/etcd/server/v3 "-s -w" "$ETCD_VERSION"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$K8S_LDFLAGS" "$K8S_VERSION"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$K8S_LDFLAGS" "$K8S_VERSION"
build kubectl k8s.io/kubernetes/cmd/kubectl "$K8S_LDFLAGS" "$K8S_VERSION"
build helm helm.sh/helm/v3/cmd/helm "$HELM_LDFLAGS" "$HELM_VERSION"

VENV="$(moto_venv_dir)"
if [[ -f "$VENV/.complete" ]]; then
  say "moto: already installed in $VENV"
else
  say "moto: installing $(grep -v '^#' "$MOTO_REQUIREMENTS" | tr '\n' ' ')into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$MOTO_REQUIREMENTS"
  touch "$VENV/.complete"
fi
ln -sf "$VENV/bin/moto_server" "$BIN/moto_server"

echo "$BIN"
