#!/usr/bin/env bash
# The benchmark (not part of the test command): a RELEASE build of the operator on
# the test bed against a plain AWS client making the minimal calls, N Services over
# a few Clusters applied at once, then at rest, single edits, a TaskDefinition change
# and deletion, every AWS call recorded by the bed's proxy; prints Markdown tables
# (see tests/src/bin/bench.rs and docs/benchmarks.md).
#
#   scripts/bench.sh                          200 Services over 3 Clusters, every 5th with a rule
#   scripts/bench.sh --services 1000          1,000 Services
#   scripts/bench.sh --rules-every 0          no load balancer rules
#   scripts/bench.sh --clusters 1 --edits 100
#   scripts/bench.sh --resync-seconds 60 --rounds 3
#   scripts/bench.sh --rollout-poll-seconds 15   the operator's default rollout poll (the bed's is 1 s)
#   scripts/bench.sh --rate-limit-percent 0   operator and plain client without client-side limits
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_DIR/target}"
command -v cargo >/dev/null || die "Rust (cargo) is required (see README: prerequisites)"
ECS_OPERATOR_TOOLS_BIN="$(ECS_OPERATOR_WITHOUT_ARGOCD=1 bash scripts/build-tools.sh)"
export ECS_OPERATOR_TOOLS_BIN
say "building ecs-operator (release) and the benchmark"
cargo build --locked --release -p ecs-operator --bin ecs-operator
cargo build --locked -p ecs-operator-tests --bin bench
export ECS_OPERATOR_BIN="$CARGO_TARGET_DIR/release/ecs-operator"
say "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
exec "$CARGO_TARGET_DIR/debug/bench" "$@"
