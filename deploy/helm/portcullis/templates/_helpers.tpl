{{/* Names and labels, as `helm create` makes them. */}}
{{- define "portcullis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "portcullis.fullname" -}}
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

{{- define "portcullis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portcullis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "portcullis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "portcullis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "portcullis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "portcullis.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret with client-id, client-secret, cookie-secret (and redis-password): the operator's or ours. */}}
{{- define "portcullis.secretName" -}}
{{- default (include "portcullis.fullname" .) .Values.config.existingSecret }}
{{- end }}

{{/*
publicUrl: the value, else https://<first ingress host>, else http://127.0.0.1:4180 — what a browser opens
through `kubectl port-forward svc/<name> 4180:<service port>`. Plain http is allowed on loopback only
(Secure cookies would never come back over http elsewhere), so an in-cluster http URL cannot be the default.
*/}}
{{- define "portcullis.publicUrl" -}}
{{- if .Values.config.publicUrl }}
{{- .Values.config.publicUrl }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- printf "https://%s" (first .Values.ingress.hosts).host }}
{{- else }}
{{- print "http://127.0.0.1:4180" }}
{{- end }}
{{- end }}

{{/*
The configuration file. Secrets never appear in it: they are ${VAR} references to the container's
environment, which takes them from the Secret (Portcullis interpolates ${VAR} when it loads the file).
*/}}
{{- define "portcullis.config" -}}
{{- if .Values.config.configFile }}
{{- .Values.config.configFile }}
{{- else }}
{{- $provider := merge (dict "clientId" "${CLIENT_ID}" "clientSecret" "${CLIENT_SECRET}") (deepCopy .Values.config.provider) }}
{{- $base := dict
  "publicUrl" (include "portcullis.publicUrl" .)
  "cookie" (dict "secret" "${COOKIE_SECRET}")
  "providers" (list $provider)
  "upstreams" .Values.config.upstreams
  "logging" (dict "format" "json")
}}
{{- if .Values.redis.url }}
{{- $redis := dict "url" .Values.redis.url }}
{{- if or .Values.redis.password .Values.redis.existingSecret }}
{{- $_ := set $redis "password" "${REDIS_PASSWORD}" }}
{{- end }}
{{- $_ := set $base "sessions" (merge (dict "store" "redis") (deepCopy $redis)) }}
{{- $_ := set $base "storage" (merge (dict "type" "redis") (deepCopy $redis)) }}
{{- else }}
{{- $_ := set $base "storage" (dict "type" "sqlite" "path" "/var/lib/portcullis/portcullis.db") }}
{{- end }}
{{- toYaml (mergeOverwrite $base (deepCopy .Values.config.extraConfig)) }}
{{- end }}
{{- end }}
