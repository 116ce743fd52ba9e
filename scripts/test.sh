#!/usr/bin/env bash
# Command two: the whole test suite. Builds the test-bed tools if missing, then
# runs the format check, clippy, the CRD drift check, unit and integration tests.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

command -v cargo >/dev/null || die "Rust (cargo) is required (see README: prerequisites)"
# Reuse one cargo target directory outside the clone, so a fresh clone on the
# same machine (CI) does not rebuild every dependency. Override with CARGO_TARGET_DIR.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_DIR/target}"
start=$SECONDS

say "test-bed tools (etcd, kube-apiserver, kube-controller-manager, kubectl, helm, Argo CD, moto)"
ECS_OPERATOR_TOOLS_BIN="$(bash scripts/build-tools.sh)"
export ECS_OPERATOR_TOOLS_BIN

say "cargo fmt --check"
cargo fmt --all --check

say "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "CRD drift check: crds/ must equal what the Rust types generate"
cargo build --locked -p ecs-operator --bin ecs-operator
if ! "$CARGO_TARGET_DIR/debug/ecs-operator" crds | diff -u crds/ecs.operator.dev.yaml - ; then
  die "crds/ is stale: run 'cargo run -p ecs-operator -- crds > crds/ecs.operator.dev.yaml' (and copy to charts/ecs-operator/crds/)"
fi
if [[ -d charts/ecs-operator/crds ]] && ! diff -u crds/ecs.operator.dev.yaml charts/ecs-operator/crds/ecs.operator.dev.yaml; then
  die "charts/ecs-operator/crds is stale: copy crds/ecs.operator.dev.yaml there"
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
say "unit tests of the bed's ECS scheduler model (tests/support, moto's Python)"
"$(moto_venv_dir)/bin/python" -m unittest discover -s tests/support -p 'test_*.py' -v 2>&1 | tee "$log" || status=$?
# In cargo's words, so that the closing line counts them too.
awk '/^Ran [0-9]+ tests/ { ran = $2 } /^FAILED/ { match($0, /failures=[0-9]+/); f = substr($0, RSTART + 9, RLENGTH - 9) + 0;
     match($0, /errors=[0-9]+/); f += substr($0, RSTART + 7, RLENGTH - 7) + 0 }
     END { printf "test result: python. %d passed; %d failed; 0 ignored\n", ran - f, f }' "$log" > "$log.extra"

say "Argo CD health checks, evaluated by Argo CD's own code (tests/argocd)"
# The flags of the argocd build in build-tools.sh, so that both share compiled packages.
(cd tests/argocd && CGO_ENABLED=0 go test -mod=mod -trimpath -count=1 -v ./...) 2>&1 | tee "$log" || status=$?
awk '/^ *--- PASS/ { p++ } /^ *--- FAIL/ { f++ } END { printf "test result: go. %d passed; %d failed; 0 ignored\n", p, f }' "$log" >> "$log.extra"

say "unit and integration tests (real kube-apiserver, etcd, kube-controller-manager, moto and Argo CD on loopback)"
export ECS_OPERATOR_BIN="$CARGO_TARGET_DIR/debug/ecs-operator"
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
cat "$log.extra" >> "$log"
rm -f "$log.extra"
say "finished in $((SECONDS - start))s"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
