#!/usr/bin/env bash
# Builds the real Kubernetes test-bed binaries (etcd, kube-apiserver,
# kube-controller-manager, kubectl, helm) from the Go modules pinned in
# tests/tools/go.mod and Argo CD from tests/argocd/go.mod, installs git and
# redis-server if missing, and moto's server mode into a virtual environment.
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

build() { # name package ldflags version [module [bin-dir [go-build-flag...]]]
  local name="$1" pkg="$2" ldflags="$3" version="$4" module="${5:-$TOOLS_MODULE}" bin="${6:-$BIN}"
  local extra=("${@:7}")
  if [[ -x "$bin/$name" ]]; then
    say "$name $version: already built"
    return
  fi
  say "$name $version: building from $pkg (a few minutes on 2 cores)"
  local start=$SECONDS
  mkdir -p "$bin"
  (cd "$module" && CGO_ENABLED=0 go build -mod=mod -buildvcs=false -trimpath \
      -ldflags "$ldflags" "${extra[@]}" -o "$bin/$name.partial" "$pkg")
  mv "$bin/$name.partial" "$bin/$name"
  say "$name $version: built in $((SECONDS - start))s"
}

build etcd go.etcd.io/etcd/server/v3 "-s -w" "$ETCD_VERSION"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$K8S_LDFLAGS" "$K8S_VERSION"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$K8S_LDFLAGS" "$K8S_VERSION"
build kubectl k8s.io/kubernetes/cmd/kubectl "$K8S_LDFLAGS" "$K8S_VERSION"
build helm helm.sh/helm/v3/cmd/helm "$HELM_LDFLAGS" "$HELM_VERSION"

# Argo CD (its own module: it pins older Kubernetes libraries than the tools above)
# for the GitOps test; the sandbox goes without (ECS_OPERATOR_WITHOUT_ARGOCD=1).
# One binary; it acts as the component its file is named after.
if [[ "${ECS_OPERATOR_WITHOUT_ARGOCD:-}" != 1 ]]; then
  ARGOCD_VERSION="$(awk '$1 == "require" && $2 == "github.com/argoproj/argo-cd/v2" { print $3 }' "$ARGOCD_MODULE/go.mod")"
  ARGOCD_BIN="$(argocd_bin_dir)"
  if [[ ! -x "$ARGOCD_BIN/argocd" ]]; then
    ARGOCD_SRC="$(cd "$ARGOCD_MODULE" && go mod download -json github.com/argoproj/argo-cd/v2 | awk -F'"' '$2 == "Dir" { print $4 }')"
    [[ -d "$ARGOCD_SRC" ]] || die "could not download github.com/argoproj/argo-cd/v2 $ARGOCD_VERSION"
    # The bed's one change to Argo CD: the application controller's metrics server
    # listens on 127.0.0.1 instead of every interface, like every other server of the
    # bed. Built from a copy of the published module (hard links, one file changed),
    # through a build-only go.mod that replaces the module with the copy.
    mkdir -p "$ARGOCD_BIN"
    work="$ARGOCD_BIN/.."
    # The module cache is read-only: make the old copy's directories removable.
    [[ -d "$work/src" ]] && find "$work/src" -type d -exec chmod u+w {} +
    rm -rf "$work/src"
    cp -al "$ARGOCD_SRC" "$work/src" 2>/dev/null || cp -a "$ARGOCD_SRC" "$work/src"
    chmod u+w "$work/src/controller"
    sed 's/"0.0.0.0:%d", metricsPort/"127.0.0.1:%d", metricsPort/' "$ARGOCD_SRC/controller/appcontroller.go" \
      > "$work/src/controller/appcontroller.go.loopback"
    grep -q '"127.0.0.1:%d", metricsPort' "$work/src/controller/appcontroller.go.loopback" \
      || die "Argo CD's controller no longer matches the bed's loopback change"
    mv -f "$work/src/controller/appcontroller.go.loopback" "$work/src/controller/appcontroller.go"
    { cat "$ARGOCD_MODULE/go.mod"; echo "replace github.com/argoproj/argo-cd/v2 => $work/src"; } > "$work/build.mod"
    cp "$ARGOCD_MODULE/go.sum" "$work/build.sum"
    mkdir -p "$work/crds"
    cp "$ARGOCD_SRC"/manifests/crds/{application,appproject}-crd.yaml "$work/crds/"
  fi
  build argocd github.com/argoproj/argo-cd/v2/cmd \
    "-s -w -X github.com/argoproj/argo-cd/v2/common.version=${ARGOCD_VERSION#v}" "$ARGOCD_VERSION" "$ARGOCD_MODULE" "$ARGOCD_BIN" \
    -modfile "$ARGOCD_BIN/../build.mod"
  ln -sfn "$ARGOCD_BIN/../crds" "$BIN/argocd-crds"
  for name in argocd argocd-application-controller argocd-repo-server; do
    ln -sf "$ARGOCD_BIN/argocd" "$BIN/$name"
  done

  # What the GitOps test needs from the system: git (the repository and git daemon)
  # and a real redis server (Argo CD's cache), from Debian's packages.
  missing=()
  command -v git >/dev/null || missing+=(git)
  command -v redis-server >/dev/null || missing+=(redis-server)
  if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      say "installing ${missing[*]} from Debian's packages"
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    else
      die "the GitOps test needs ${missing[*]}: install them (Debian: apt-get install ${missing[*]})"
    fi
  fi
fi

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
