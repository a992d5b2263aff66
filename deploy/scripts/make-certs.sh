#!/usr/bin/env bash
# Makes the certificates of a framepair deployment with openssl and writes them as Secret
# manifests (deploy/README.md, "TLS and tokens"):
#
#   deploy/scripts/make-certs.sh [--namespace NS] [--cluster-domain DOMAIN] [--out DIR]
#                                [--san DNS:NAME|IP:ADDR]... [--days N]
#
# In DIR (default ./framepair-certs-NS), all PEM, keys ECDSA P-256:
#   ca.crt ca.key        a private CA for this deployment. Keep ca.key off the cluster; when
#                        DIR already holds it, it is reused and only the leaves are re-issued
#                        (rotation without touching what trusts the CA).
#   ingest.crt/.key, align.crt/.key, scene.crt/.key, packer.crt/.key
#                        each worker's server certificate (extendedKeyUsage serverAuth only),
#                        for the names the coordinator dials: framepair-<worker>,
#                        framepair-<worker>.NS, framepair-<worker>.NS.svc,
#                        framepair-<worker>.NS.svc.DOMAIN, plus every --san.
#   coordinator.crt/.key the coordinator's client certificate (clientAuth only): the one
#                        certificate the workers' --tls-client-ca accepts a call with.
#   coordinator-server.crt/.key
#                        the coordinator's own server certificate for the CLI: localhost,
#                        127.0.0.1 (kubectl port-forward), framepair-coordinator[.NS[.svc[.DOMAIN]]],
#                        plus every --san (add the load balancer's name here).
#   framepair-worker-tls.yaml        Secret framepair-worker-tls (ca.crt and the above, but
#                                    never ca.key)
#   framepair-coordinator-tls.yaml   Secret framepair-coordinator-tls (kubernetes.io/tls:
#                                    tls.crt, tls.key, ca.crt); skip it if cert-manager or
#                                    another CA issues the coordinator's certificate.
# Apply with `kubectl apply -f DIR/framepair-worker-tls.yaml -f DIR/framepair-coordinator-tls.yaml`.
# The manifests hold private keys: do not commit them.
#
# --namespace NS        the namespace of the deployment (default framepair)
# --cluster-domain D    the cluster's DNS domain (default cluster.local; the tuning
#                       ConfigMap's CLUSTER_DOMAIN)
# --san DNS:N | IP:A    one more name on every server certificate (repeatable), e.g.
#                       IP:127.0.0.1 for servers on loopback
# --days N              validity of the leaf certificates (default 397; the CA: 10 years)
set -euo pipefail

usage() { sed -n '2,41p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
die() { echo "make-certs.sh: $*" >&2; exit 2; }

ns=framepair domain=cluster.local out="" days=397
sans=()
while [ $# -gt 0 ]; do
  case "$1" in
    --namespace) ns="${2:-}"; shift 2 ;;
    --cluster-domain) domain="${2:-}"; shift 2 ;;
    --out) out="${2:-}"; shift 2 ;;
    --san) sans+=("${2:-}"); shift 2 ;;
    --days) days="${2:-}"; shift 2 ;;
    -h|--help) usage ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ "$ns" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || die "--namespace '$ns' is not a namespace name"
[[ "$domain" =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]] || die "--cluster-domain '$domain' is not a DNS name"
[[ "$days" =~ ^[1-9][0-9]{0,4}$ ]] || die "--days '$days' is not a number of days"
for san in "${sans[@]}"; do
  [[ "$san" =~ ^(DNS:[A-Za-z0-9*]([-A-Za-z0-9.]*[A-Za-z0-9])?|IP:[0-9A-Fa-f:.]+)$ ]] ||
    die "--san '$san' is not DNS:NAME or IP:ADDRESS"
done
command -v openssl >/dev/null || die "openssl not found (Debian: apt-get install openssl)"
out="${out:-framepair-certs-$ns}"
mkdir -p "$out"
cd "$out"
umask 077

# The names a Service is reached by inside the cluster, shortest first.
service_names() {
  local s="$1"
  printf 'DNS:%s,DNS:%s.%s,DNS:%s.%s.svc,DNS:%s.%s.svc.%s' "$s" "$s" "$ns" "$s" "$ns" "$s" "$ns" "$domain"
}
extra=""
for san in "${sans[@]}"; do extra="$extra,$san"; done

# issue NAME CN EKU SANS: NAME.key and NAME.crt signed by the CA.
issue() {
  local name="$1" cn="$2" eku="$3" alt="$4"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$name.key" -out "$name.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=$eku" \
    "subjectAltName=$alt" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -days "$days" \
    -set_serial "0x$(openssl rand -hex 16)" -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

if [ -f ca.key ] && [ -f ca.crt ]; then
  echo "make-certs.sh: reusing the CA in $PWD (ca.crt, ca.key)" >&2
else
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=framepair CA ($ns)" -keyout ca.key -out ca.crt \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

workers=(ingest align scene packer)
for w in "${workers[@]}"; do
  issue "$w" "framepair-$w" serverAuth "$(service_names "framepair-$w")$extra"
done
issue coordinator framepair-coordinator clientAuth "DNS:framepair-coordinator"
issue coordinator-server framepair-coordinator serverAuth \
  "DNS:localhost,IP:127.0.0.1,$(service_names framepair-coordinator)$extra"
for name in ca "${workers[@]}" coordinator coordinator-server; do
  openssl verify -CAfile ca.crt "$name.crt" >/dev/null
done

b64() { base64 -w0 <"$1"; }
# secret NAME TYPE KEY=FILE...: a Secret manifest on stdout.
secret() {
  local name="$1" type="$2"; shift 2
  printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n' "$name" "$ns"
  printf '  labels:\n    app.kubernetes.io/part-of: framepair\n    app.kubernetes.io/component: tls\n'
  printf 'type: %s\ndata:\n' "$type"
  local pair
  for pair in "$@"; do printf '  %s: %s\n' "${pair%%=*}" "$(b64 "${pair#*=}")"; done
}
files=(ca.crt=ca.crt coordinator.crt=coordinator.crt coordinator.key=coordinator.key)
for w in "${workers[@]}"; do files+=("$w.crt=$w.crt" "$w.key=$w.key"); done
secret framepair-worker-tls Opaque "${files[@]}" >framepair-worker-tls.yaml
secret framepair-coordinator-tls kubernetes.io/tls tls.crt=coordinator-server.crt \
  tls.key=coordinator-server.key ca.crt=ca.crt >framepair-coordinator-tls.yaml

echo "make-certs.sh: certificates for namespace $ns in $PWD; apply the Secrets with:"
echo "  kubectl apply -f $PWD/framepair-worker-tls.yaml -f $PWD/framepair-coordinator-tls.yaml"
