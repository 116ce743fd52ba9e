#!/usr/bin/env bash
# Refreshes the Argo CD health checks' test data from objects the operator really
# writes: runs the bed tests whose waits pass through the states the checks map
# (Ready, rollouts, rollbacks, Invalid, Conflict, waiting for references) with
# capturing on, into argocd/resource_customizations/ecs.operator.dev/<Kind>/testdata/.
# Existing files are kept: delete one to capture it again. Then list new files in
# the kind's health_test.yaml and run scripts/test.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
export ECS_OPERATOR_HEALTH_TESTDATA="$REPO_ROOT/argocd/resource_customizations/ecs.operator.dev"
exec scripts/test.sh --test rollouts --test service --test cluster --test task_definition --test task "$@"
