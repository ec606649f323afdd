{{/*
Labels. Selectors use app.kubernetes.io/name only (selectors are immutable; the
same rule as k8s/base), so object names are fixed (producer-svc, consumer-svc, as in
kustomize): one release per namespace.
*/}}

{{/* surge.labels NAME: the recommended labels of every object. */}}
{{- define "surge.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/part-of: surge
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/* surge.podLabels: pod template labels (no chart version: a chart bump alone must not roll pods). */}}
{{- define "surge.podLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/part-of: surge
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* surge.image: repository:tag, or repository:tag@digest. */}}
{{- define "surge.image" -}}
{{- .repository }}:{{ .tag }}{{ with .digest }}@{{ . }}{{ end }}
{{- end -}}

{{/* surge.securityContext: the container securityContext of k8s/base (distroless nonroot). */}}
{{- define "surge.securityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "surge.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* surge.probes: startup/liveness on /healthz, readiness on /readyz, port `http`. */}}
{{- define "surge.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 2
{{- end -}}

{{/* surge.podEnv: the per-pod env of both services (client.id per pod, OTel resource). */}}
{{- define "surge.podIdentityEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end -}}

{{- define "surge.clientEnv" -}}
- name: SURGE__KAFKA__PROPERTIES__CLIENT_ID
  value: $(POD_NAME)
- name: OTEL_RESOURCE_ATTRIBUTES
  value: k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE)
{{- end -}}

{{- define "surge.databaseEnv" -}}
- name: SURGE__DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.secretName }}
      key: {{ .Values.database.secretKey }}
{{- end -}}

{{/* surge.commonSettings: ConfigMap entries both services share. */}}
{{- define "surge.commonSettings" -}}
SURGE__KAFKA__BOOTSTRAP_SERVERS: {{ .Values.kafka.bootstrapServers | quote }}
SURGE__KAFKA__TOPIC: {{ .Values.kafka.topic | quote }}
SURGE_ENVIRONMENT: {{ .Values.environment | quote }}
RUST_LOG: {{ .Values.logLevel | quote }}
{{- with .Values.otlp.endpoint }}
SURGE__OTLP__ENDPOINT: {{ . | quote }}
{{- end }}
{{- range $k, $v := .Values.kafka.properties }}
SURGE__KAFKA__PROPERTIES__{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{/* surge.topologySpread: zones hard, nodes soft, per Deployment (as overlays/prod). */}}
{{- define "surge.topologySpread" -}}
{{- if .Values.topologySpread.enabled }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: DoNotSchedule
    labelSelector:
      matchLabels:
        app.kubernetes.io/instance: {{ .Release.Name }}
    matchLabelKeys: [app.kubernetes.io/name, pod-template-hash]
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        app.kubernetes.io/instance: {{ .Release.Name }}
    matchLabelKeys: [app.kubernetes.io/name, pod-template-hash]
{{- end }}
{{- end -}}

{{/* surge.scheduling SERVICE-VALUES: nodeSelector, tolerations, affinity when set. */}}
{{- define "surge.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The ConfigMaps' data (also hashed into the pod templates' checksum/config). */}}
{{- define "surge.producerSettings" -}}
{{- $v := .Values.producer -}}
SURGE__HTTP__HOST: "0.0.0.0"
SURGE__HTTP__PORT: {{ $v.port | quote }}
SURGE__HTTP__SHUTDOWN_TIMEOUT_SECS: {{ $v.shutdownTimeoutSeconds | quote }}
SURGE__SHUTDOWN__BUDGET_SECS: {{ $v.shutdownBudgetSeconds | quote }}
{{ include "surge.commonSettings" . }}
{{- range $k, $val := $v.settings }}
{{ $k }}: {{ $val | toString | quote }}
{{- end }}
{{- end -}}

{{- define "surge.consumerSettings" -}}
{{- $v := .Values.consumer -}}
SURGE__HTTP__HOST: "0.0.0.0"
SURGE__HTTP__PORT: {{ $v.port | quote }}
SURGE__KAFKA__DLQ_TOPIC: {{ .Values.kafka.dlqTopic | quote }}
SURGE__KAFKA__GROUP_ID: {{ .Values.kafka.groupId | quote }}
SURGE__SHUTDOWN__BUDGET_SECS: {{ $v.shutdownBudgetSeconds | quote }}
{{ include "surge.commonSettings" . }}
{{- range $k, $val := $v.settings }}
{{ $k }}: {{ $val | toString | quote }}
{{- end }}
{{- end -}}

{{/* The selector of each consumer-group metric the HPA reads (the adapter's labels). */}}
{{- define "surge.consumerGroupSelector" -}}
selector:
  matchLabels:
    consumergroup: {{ .Values.kafka.groupId }}
    topic: {{ .Values.kafka.topic }}
{{- end }}
