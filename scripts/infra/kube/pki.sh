# shellcheck shell=bash
# Certificates of the local control plane, made once with openssl and kept (sourced by
# recipe.sh). Every client of the API server authenticates with a certificate:
#
#   ca.crt/key                   signs the serving certificate and the client certificates
#   apiserver.crt/key            serving; SANs 127.0.0.1, localhost, the Service IP 10.0.0.1
#                                and the in-cluster names of the `kubernetes` Service
#   admin.crt/key                CN=admin, O=system:masters: the admin kubeconfig, which the
#                                controllers, the scheduler and the adapter use as well
#   sa.key/sa.pub                signs and verifies service-account tokens
#   front-proxy-ca.crt/key       a CA of its own, as the aggregation-layer docs require:
#   front-proxy-client.crt/key   the aggregator's client certificate towards the adapter,
#                                which trusts the X-Remote-User/Group headers only from it
#
# The folder is written to a temporary name and renamed, so a half-made set is never used.

kube_pki_ensure() {
  local pki=$1
  [[ -f $pki/.complete ]] && return 0
  command -v openssl >/dev/null 2>&1 || apt_install openssl
  local tmp="$pki.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  (
    cd "$tmp"
    umask 077
    kube_pki_ca ca surge-local-ca
    kube_pki_cert apiserver ca "/CN=kube-apiserver" serverAuth \
      "IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    kube_pki_cert admin ca "/O=system:masters/CN=admin" clientAuth
    kube_pki_ca front-proxy-ca surge-local-front-proxy-ca
    kube_pki_cert front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
  ) >"$tmp.log" 2>&1 || {
    tail -n 20 "$tmp.log" >&2
    die "kube: making the certificates in $tmp failed (openssl output above)"
  }
  rm -f "$tmp.log"
  touch "$tmp/.complete"
  rm -rf "$pki"
  mv "$tmp" "$pki"
  log "kube: certificates made in $pki (kept for later starts)"
}

# kube_pki_ca NAME CN: a self-signed CA valid for 10 years.
kube_pki_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$1.key" -out "$1.crt"
}

# kube_pki_cert NAME CA SUBJECT EXTENDED_USAGE [SANS]: a key and a certificate signed by CA.
kube_pki_cert() {
  local name=$1 ca=$2 subject=$3 usage=$4 sans=${5:-}
  {
    printf 'basicConstraints=critical,CA:FALSE\n'
    printf 'keyUsage=critical,digitalSignature,keyEncipherment\n'
    printf 'extendedKeyUsage=%s\n' "$usage"
    [[ -z $sans ]] || printf 'subjectAltName=%s\n' "$sans"
  } >"$name.ext"
  openssl req -newkey rsa:2048 -nodes -subj "$subject" -keyout "$name.key" -out "$name.csr"
  openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -days 3650 \
    -extfile "$name.ext" -out "$name.crt"
  rm -f "$name.csr" "$name.ext"
}
