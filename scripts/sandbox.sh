#!/usr/bin/env bash
# Command one: the sandbox. A real kube-apiserver and etcd, moto as AWS, the
# CRDs and examples applied, and the operator running in the foreground.
#
#   scripts/sandbox.sh                 run in the foreground; Ctrl-C stops everything
#   scripts/sandbox.sh up --background run in the background (log: .sandbox.log)
#   scripts/sandbox.sh down            stop a background sandbox
#   scripts/sandbox.sh status          is a sandbox running?
#
# Once it runs: `source .sandbox/env` gives kubectl, helm and AWS clients the
# sandbox (KUBECONFIG, AWS_ENDPOINT_URL, AWS_REGION, credentials, seeded IDs).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

STATE_DIR="$REPO_ROOT/.sandbox"
PID_FILE="$REPO_ROOT/.sandbox.pid"
LOG_FILE="$REPO_ROOT/.sandbox.log"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_DIR/target}"

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid; pid="$(cat "$PID_FILE")"
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

build() {
  command -v cargo >/dev/null || die "Rust (cargo) is required (see README: prerequisites)"
  ECS_OPERATOR_TOOLS_BIN="$(ECS_OPERATOR_WITHOUT_ARGOCD=1 bash scripts/build-tools.sh)"
  export ECS_OPERATOR_TOOLS_BIN
  say "building ecs-operator and the sandbox"
  cargo build --locked -p ecs-operator --bin ecs-operator -p ecs-operator-tests --bin sandbox
}

case "${1:-up}" in
  up)
    if pid="$(running_pid)"; then die "a sandbox already runs (pid $pid); stop it with: scripts/sandbox.sh down"; fi
    build
    if [[ "${2:-}" == "--background" ]]; then
      nohup "$CARGO_TARGET_DIR/debug/sandbox" --state-dir "$STATE_DIR" >"$LOG_FILE" 2>&1 &
      echo $! >"$PID_FILE"
      for _ in $(seq 1 180); do
        [[ -f "$STATE_DIR/env" ]] && break
        kill -0 "$(cat "$PID_FILE")" 2>/dev/null || { cat "$LOG_FILE"; rm -f "$PID_FILE"; die "the sandbox failed to start"; }
        sleep 1
      done
      [[ -f "$STATE_DIR/env" ]] || die "the sandbox did not become ready in 180s; see $LOG_FILE"
      say "sandbox running in the background (pid $(cat "$PID_FILE"), log $LOG_FILE)"
      say "use it:  source .sandbox/env && kubectl get ecs -A"
      say "stop it: scripts/sandbox.sh down"
    else
      exec "$CARGO_TARGET_DIR/debug/sandbox" --state-dir "$STATE_DIR"
    fi
    ;;
  down)
    pid="$(running_pid)" || { rm -f "$PID_FILE"; say "no sandbox is running"; exit 0; }
    say "stopping the sandbox (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    rm -f "$PID_FILE"
    say "stopped"
    ;;
  status)
    if pid="$(running_pid)"; then say "running (pid $pid); env file: $STATE_DIR/env"; else say "not running"; exit 1; fi
    ;;
  *)
    die "usage: scripts/sandbox.sh [up [--background] | down | status]"
    ;;
esac
