# Shared settings for the project's scripts. Source it; do not run it.
#
# Everything built or installed for the test bed lives in one cache directory
# outside the clone, keyed by the pinned versions, so a second run (or a CI run
# on the same machine) reuses it and a version change rebuilds it.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${ECS_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ecs-operator}"
TOOLS_MODULE="$REPO_ROOT/tests/tools"
ARGOCD_MODULE="$REPO_ROOT/tests/argocd"
MOTO_REQUIREMENTS="$REPO_ROOT/tests/moto-requirements.txt"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A short content hash of the given files: the cache key of what they pin.
files_hash() { cat "$@" | sha256sum | cut -c1-12; }

tools_bin_dir() { echo "$CACHE_DIR/tools-$(files_hash "$TOOLS_MODULE/go.mod" "$TOOLS_MODULE/go.sum")/bin"; }
argocd_bin_dir() { echo "$CACHE_DIR/argocd-$(files_hash "$ARGOCD_MODULE/go.mod" "$ARGOCD_MODULE/go.sum")/bin"; }
moto_venv_dir() { echo "$CACHE_DIR/moto-$(files_hash "$MOTO_REQUIREMENTS")"; }

# The version of a module as go.mod pins it.
pinned_version() {
  awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$TOOLS_MODULE/go.mod"
}
