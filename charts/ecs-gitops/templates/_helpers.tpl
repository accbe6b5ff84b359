{{/* The chart's name, or nameOverride. */}}
{{- define "ecs-gitops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of every object: fullnameOverride, else the release name, with the chart's name
appended unless the release name contains it (`ecs-gitops` for a release named ecs-gitops).
*/}}
{{- define "ecs-gitops.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ecs-gitops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ecs-gitops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ecs-gitops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ecs-gitops.labels" -}}
helm.sh/chart: {{ include "ecs-gitops.chart" . }}
{{ include "ecs-gitops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ecs-gitops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ecs-gitops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* "true" when the replicas elect a leader: more than one of them. */}}
{{- define "ecs-gitops.leaderElection" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}

{{/* "true" when the pod talks to the Kubernetes API: crd mode, or a leader election. */}}
{{- define "ecs-gitops.usesKubernetesApi" -}}
{{- if or (eq .Values.mode "crd") (include "ecs-gitops.leaderElection" .) }}true{{ end }}
{{- end }}

{{/* The Lease the replicas elect a leader on, in the release's namespace. */}}
{{- define "ecs-gitops.leaseName" -}}
{{- include "ecs-gitops.fullname" . }}
{{- end }}

{{/*
What values.schema.json cannot say: rules between values. Each failure names the values
and what to do.
*/}}
{{- define "ecs-gitops.validate" -}}
{{- $git := .Values.git }}
{{- if eq .Values.mode "git" }}
{{- if not $git.url }}
{{- fail "mode: git needs git.url, the repository to follow (https://, ssh://, git@host:path or git://)" }}
{{- end }}
{{- if .Values.watchNamespaces }}
{{- fail "watchNamespaces is for mode: crd; in mode: git the repository says what to reconcile" }}
{{- end }}
{{- if and (or $git.https.tokenKey $git.ssh.privateKeyKey $git.ssh.knownHostsKey $git.webhook.secretKey) (not $git.existingSecret) }}
{{- fail "git.https.tokenKey, git.ssh.* and git.webhook.secretKey are keys of git.existingSecret: set git.existingSecret to the Secret's name" }}
{{- end }}
{{- if and $git.ssh.privateKeyKey (not $git.ssh.knownHostsKey) }}
{{- fail "git.ssh.privateKeyKey needs git.ssh.knownHostsKey: the Git server's host key is always checked" }}
{{- end }}
{{- if and $git.ssh.knownHostsKey (not $git.ssh.privateKeyKey) }}
{{- fail "git.ssh.knownHostsKey is used with git.ssh.privateKeyKey: set both, or neither" }}
{{- end }}
{{- if and $git.https.tokenKey $git.ssh.privateKeyKey }}
{{- fail "git.https.tokenKey and git.ssh.privateKeyKey: choose one, as git.url is either https or ssh" }}
{{- end }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.service.enabled) }}
{{- fail "serviceMonitor.enabled needs service.enabled: the ServiceMonitor selects the Service" }}
{{- end }}
{{- end }}

{{/* The RBAC subject: the pods' ServiceAccount. */}}
{{- define "ecs-gitops.subject" -}}
- kind: ServiceAccount
  name: {{ include "ecs-gitops.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}
