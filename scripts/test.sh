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
trap 'rm -f "$log" "$log.extra"' EXIT
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
# Arguments before `--` choose what cargo builds (`--test cluster`), after it what
# the test binaries run (a name filter).
cargo_args=() test_args=()
while (($#)); do [[ "$1" == -- ]] && { shift; test_args=("$@"); break; }; cargo_args+=("$1"); shift; done
# Compiler messages go to the terminal; the JSON on stdout names the binaries.
cargo test --workspace --locked --no-run --message-format=json-render-diagnostics "${cargo_args[@]}" > "$log.json" \
  || status=$?
# Every test binary starts its own bed and spends most of its time waiting for
# rollouts, so several run at once (cargo test runs them one after another). Each
# one's output is kept whole and shown in order; the slowest start first.
mapfile -t binaries < <(python3 - "$log.json" <<'PY'
import json, os, sys
slow_first = ["faults", "edit_walk", "kills", "apiserver_restart", "throttling", "batching", "probes", "rollouts", "gitops", "edits", "service", "failover", "bad_input", "cluster"]
found = []
for line in open(sys.argv[1]):
    m = json.loads(line) if line.startswith("{") else {}
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        name = m["target"]["name"] + ("" if "test" in m["target"]["kind"] else "-" + m["target"]["kind"][0])
        found.append((name, m["executable"], os.path.dirname(m["manifest_path"])))
found.sort(key=lambda f: slow_first.index(f[0]) if f[0] in slow_first else len(slow_first))
for name, exe, cwd in found:
    print(f"{name}\t{exe}\t{cwd}")
PY
)
runs="$(mktemp -d)"
trap 'rm -rf "$log" "$log.json" "$log.extra" "$runs"' EXIT
jobs_max="${ECS_OPERATOR_TEST_JOBS:-3}"
running=0
for entry in "${binaries[@]}"; do
  IFS=$'\t' read -r name exe cwd <<<"$entry"
  # `set +e`: a failing binary must still leave its exit code for the summary.
  (set +e; cd "$cwd" && "$exe" "${test_args[@]}" > "$runs/$name.log" 2>&1; echo $? > "$runs/$name.rc") &
  if (( ++running >= jobs_max )); then wait -n || true; running=$((running - 1)); fi
done
wait
: > "$log"
for entry in "${binaries[@]}"; do
  IFS=$'\t' read -r name exe _ <<<"$entry"
  { echo "     Running $name ($exe)"; cat "$runs/$name.log"; } | tee -a "$log"
  [[ "$(cat "$runs/$name.rc" 2>/dev/null)" == 0 ]] || { status=1; echo "test binary $name failed" | tee -a "$log"; }
done
cat "$log.extra" >> "$log"
say "finished in $((SECONDS - start))s"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
