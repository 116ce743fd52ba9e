{{- define "ecs-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ecs-operator.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ecs-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ecs-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ecs-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The rules the operator needs on its own kinds and Events: exactly the verbs it
uses (watches list and watch; finalizers are JSON patches; status is applied
server-side; Events are created, never updated). */}}
{{- define "ecs-operator.namespacedRules" -}}
- apiGroups: [ecs.operator.dev]
  resources: [clusters, taskdefinitions, services, tasks]
  verbs: [list, watch, patch]
# ttlSecondsAfterFinished: a finished Task deletes itself.
- apiGroups: [ecs.operator.dev]
  resources: [tasks]
  verbs: [delete]
- apiGroups: [ecs.operator.dev]
  resources: [clusters/status, taskdefinitions/status, services/status, tasks/status]
  verbs: [patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create]
{{- end -}}
