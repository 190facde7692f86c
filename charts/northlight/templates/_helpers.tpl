{{/* The release's full name, at most 40 characters so that suffixes stay within 63. */}}
{{- define "northlight.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object the chart renders; the operator's own objects use operator/src/k8s/contract.ts. */}}
{{- define "northlight.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "northlight.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "northlight.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (printf "%s-operator" (include "northlight.fullname" .)) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "northlight.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* "true" when the Prometheus Operator objects are rendered: forced by a value, or discovered. */}}
{{- define "northlight.monitoring" -}}
{{- $enabled := .Values.monitoring.enabled -}}
{{- if eq (toString $enabled) "true" -}}
true
{{- else if and (eq (toString $enabled) "auto") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") -}}
true
{{- end -}}
{{- end -}}

{{- define "northlight.minioName" -}}
{{- printf "%s-minio" (include "northlight.fullname" .) -}}
{{- end -}}

{{- define "northlight.minioSecretName" -}}
{{- default (include "northlight.minioName" .) .Values.minio.existingSecret -}}
{{- end -}}

{{- define "northlight.redisName" -}}
{{- printf "%s-redis" (include "northlight.fullname" .) -}}
{{- end -}}

{{/* The object store DatabaseClusters can use: the chart's MinIO, or the external one. */}}
{{- define "northlight.objectStoreEndpoint" -}}
{{- if .Values.minio.enabled -}}
{{- printf "http://%s.%s.svc:9000" (include "northlight.minioName" .) .Release.Namespace -}}
{{- else -}}
{{- .Values.externalObjectStore.endpoint -}}
{{- end -}}
{{- end -}}

{{- define "northlight.objectStoreBucket" -}}
{{- if .Values.minio.enabled -}}
{{- .Values.minio.bucket -}}
{{- else -}}
{{- .Values.externalObjectStore.bucket -}}
{{- end -}}
{{- end -}}

{{- define "northlight.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s.%s.svc:6379/0" (include "northlight.redisName" .) .Release.Namespace -}}
{{- else -}}
{{- .Values.externalRedis.url -}}
{{- end -}}
{{- end -}}

{{/* Restricted pod security: every container the chart runs. */}}
{{- define "northlight.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Target labels of every data pod's metrics, from the labels the operator puts on its pods
(operator/src/k8s/contract.ts LABELS). The dashboards and alert rules query exactly these:
cluster, component, zone, member, role, namespace, pod.
*/}}
{{- define "northlight.podRelabelings" -}}
- sourceLabels: [__meta_kubernetes_pod_label_northlight_dev_cluster]
  targetLabel: cluster
- sourceLabels: [__meta_kubernetes_pod_label_app_kubernetes_io_component]
  targetLabel: component
- sourceLabels: [__meta_kubernetes_pod_label_northlight_dev_zone]
  targetLabel: zone
- sourceLabels: [__meta_kubernetes_pod_label_northlight_dev_member]
  targetLabel: member
- sourceLabels: [__meta_kubernetes_pod_label_northlight_dev_role]
  targetLabel: role
- sourceLabels: [__meta_kubernetes_namespace]
  targetLabel: namespace
- sourceLabels: [__meta_kubernetes_pod_name]
  targetLabel: pod
{{- end -}}
