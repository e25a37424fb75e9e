{{/*
Names, labels and the RBAC rules shared by the templates.
*/}}

{{- define "kapacitor-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or just the release name when it already holds the chart
name. Truncated to 63 characters (the DNS label limit) because some names end up as
labels.
*/}}
{{- define "kapacitor-operator.fullname" -}}
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

{{- define "kapacitor-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kapacitor-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kapacitor-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kapacitor-operator.labels" -}}
helm.sh/chart: {{ include "kapacitor-operator.chart" . }}
{{ include "kapacitor-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "kapacitor-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kapacitor-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kapacitor-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "kapacitor-operator.leaseName" -}}
{{- default (include "kapacitor-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
The namespaces served in namespaced mode, validated: the mode needs at least one.
*/}}
{{- define "kapacitor-operator.watchNamespaces" -}}
{{- if not .Values.rbac.clusterWide }}
{{- if not .Values.watchNamespaces }}
{{- fail "rbac.clusterWide=false needs watchNamespaces: the namespaces the operator serves" }}
{{- end }}
{{- join "," (uniq .Values.watchNamespaces) }}
{{- end }}
{{- end }}

{{/*
Rules the operator needs inside every namespace it serves. The same list becomes a
ClusterRole (cluster-wide mode) or a Role per watched namespace (namespaced mode).
Each rule names the code that needs it; no wildcards, only the verbs used.
*/}}
{{- define "kapacitor-operator.namespacedRules" -}}
# kopf watches KapacitorTasks and patches finalizers/annotations; a TaskRun reads its
# target task (get).
- apiGroups: ["kapacitor.operator.dev"]
  resources: ["kapacitortasks"]
  verbs: ["get", "list", "watch", "patch"]
# kopf watches TaskRuns for the TaskRun engine, which re-reads one after a conflicting
# status write (get) and removes the finalizer older versions added (patch); the operator
# creates retry TaskRuns, lists them by label for pruning and deletes expired ones (TTL,
# history).
- apiGroups: ["kapacitor.operator.dev"]
  resources: ["taskruns"]
  verbs: ["get", "list", "watch", "patch", "create", "delete"]
# Status is written through the status subresource only.
- apiGroups: ["kapacitor.operator.dev"]
  resources: ["kapacitortasks/status", "taskruns/status"]
  verbs: ["patch"]
# Owned Jobs and TaskRuns carry blockOwnerDeletion; clusters with the
# OwnerReferencesPermissionEnforcement admission plugin require update on the owner's
# finalizers subresource for that.
- apiGroups: ["kapacitor.operator.dev"]
  resources: ["kapacitortasks/finalizers", "taskruns/finalizers"]
  verbs: ["update"]
# Kapacitor connection objects and KapacitorTemplates (issue 15): kopf watches them and
# patches finalizers and annotations; resources that name one read it (get); the operator
# writes their status, and nudges (patches an annotation on) the KapacitorTasks,
# KapacitorTemplates and KapacitorAlertHandlers that name an object that changed.
- apiGroups: ["kapacitor.operator.dev"]
  resources: ["kapacitors", "kapacitortemplates"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["kapacitor.operator.dev"]
  resources: ["kapacitors/status", "kapacitortemplates/status"]
  verbs: ["patch"]
# Job-backed TaskRuns: one Job per attempt (create), watched by label (list, watch),
# re-read while waiting (get) and deleted on cancel (delete).
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "delete"]
# The Pods of attempts' Jobs, watched by label: their containers' states (an image that
# cannot be pulled, exit code, termination message, OOM).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# The log tail of an attempt's container, read once when the attempt ends.
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
# KapacitorAlertHandlers: watched by kopf (finalizers, annotations: patch), status
# through its subresource. They own nothing, so no finalizers subresource right.
- apiGroups: ["kapacitor.operator.dev"]
  resources: ["kapacitoralerthandlers"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["kapacitor.operator.dev"]
  resources: ["kapacitoralerthandlers/status"]
  verbs: ["patch"]
# spec.scriptFrom.configMapKeyRef, and KapacitorAlertHandler spec.optionsFrom[].configMapKeyRef.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get"]
# spec.kapacitor.credentialsSecretRef (and a Kapacitor object's credentialsSecretRef /
# tls.caSecretRef) and KapacitorAlertHandler spec.optionsFrom[].secretKeyRef: read by
# name, never listed or watched.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# kopf and the TaskRun engine post Events about the objects they handle (create); the
# engine lists the Job controller's FailedCreate Events of an attempt's Job that has no
# Pod, by field selector: the only place the API server says why it refused the Pod
# (Pod Security Admission, quota).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "list"]
{{- end }}

{{/*
Cluster-scoped reads of kopf itself: which namespaces exist and which CRDs are served.
*/}}
{{- define "kapacitor-operator.observerRules" -}}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- end }}
