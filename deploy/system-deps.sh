#!/usr/bin/env bash
# Installs the OS packages carrierwatch needs when they are missing (Debian/Ubuntu, as root),
# so that `make run` / `make test` work on a fresh machine. A no-op when all are present.
set -euo pipefail

need=()
command -v python3.11 >/dev/null 2>&1 || need+=(python3.11 python3.11-venv)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
# javac: the benchmark's Kafka Streams peer is compiled (tests/benchmarks/kstreams_peer.py)
command -v javac >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
# kamailio is in /usr/sbin, which a non-root PATH may not list
export PATH="$PATH:/usr/sbin"
for extra in "$@"; do
  case "$extra" in
    prometheus) command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 \
                  || need+=(prometheus) ;;
    # the carrier page's tests drive a real headless browser (tests/integration/test_ui.py)
    browser) command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
               || need+=(chromium chromium-driver) ;;
    # the HEP collector's end-to-end test: a real proxy and real SIP endpoints
    # alert delivery's test: a real Alertmanager and its amtool (tests/integration/test_alertmanager.py)
    alertmanager) command -v prometheus-alertmanager >/dev/null 2>&1 \
                    && command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager) ;;
    sip) command -v kamailio >/dev/null 2>&1 && command -v sipp >/dev/null 2>&1 \
           || need+=(kamailio sip-tester) ;;
    *) echo "system-deps.sh: unknown extra '$extra'" >&2; exit 2 ;;
  esac
done

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "carrierwatch needs: ${need[*]} — install them with your package manager" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
