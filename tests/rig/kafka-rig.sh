#!/usr/bin/env bash
# The real Apache Kafka broker of the test rig: KRaft combined mode on 127.0.0.1, free ports,
#   SASL_SSL + OAUTHBEARER (tokens validated by the broker against the test issuer's JWKS),
#   PLAINTEXT (admin, kcat), CONTROLLER; StandardAuthorizer with ACLs for the test principals.
#
#   kafka-rig.sh start DIR        make CA, certificates, issuer keys, JWKS; format; start; wait; add ACLs;
#                                 write DIR/rig.env (read by the tests through $GRACEDB_RIG_ENV)
#   kafka-rig.sh stop DIR         stop the broker (TERM, then KILL after 20 s); idempotent
#   kafka-rig.sh stop-broker DIR  stop only the process, keep its data (for restart tests)
#   kafka-rig.sh start-broker DIR start it again on the same ports and data, wait until ready
#
# Environment: RIG_TOOL (the rig-tool binary), KAFKA_LIBS (folder of the broker's jars; filled by Maven
# from tests/rig/pom.xml when empty), JAVA (default: java).
set -euo pipefail

cmd=${1:?usage: kafka-rig.sh start|stop|stop-broker|start-broker DIR}
dir=${2:?usage: kafka-rig.sh $cmd DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
JAVA=${JAVA:-java}
KAFKA_LIBS=${KAFKA_LIBS:-$dir/../kafka-libs}
RIG_TOOL=${RIG_TOOL:-rig-tool}
ISSUER=https://issuer.rig.gracedb-cpp.test
KID=rig-key-1
PRINCIPALS=(User:pipeline User:supervisor User:follower)
TOPIC_PREFIXES=(rig. gracedb-test. gracedb-dev. sandbox. localhost. gracedb-deadletter. gracedb-alerts. sup)
DENIED_TOPIC=forbidden.topic

log() { echo "kafka-rig: $*" >&2; }

fetch_jars() {
  if ls "$KAFKA_LIBS"/kafka_2.13-*.jar >/dev/null 2>&1; then return; fi
  log "resolving Apache Kafka's jars with Maven into $KAFKA_LIBS"
  mkdir -p "$KAFKA_LIBS"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$KAFKA_LIBS" >&2
}

free_ports() {  # three distinct free TCP ports on 127.0.0.1
  python3 - <<'PY'
import socket
socks = []
for _ in range(3):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

make_tls() {
  local t=$dir/tls
  mkdir -p "$t"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=gracedb-cpp test CA" \
      -keyout "$t/ca.key" -out "$t/ca.pem" 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=gracedb-cpp other CA" \
      -keyout "$t/other-ca.key" -out "$t/other-ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
      -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$t/server.ext"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial -days 3 \
      -extfile "$t/server.ext" -out "$t/server.pem" 2>/dev/null
  # PEM keystore: the PKCS#8 key, then the chain.
  cat "$t/server.key" "$t/server.pem" "$t/ca.pem" > "$t/server-keystore.pem"
  chmod 600 "$t"/*.key "$t/server-keystore.pem"
}

make_issuer() {
  local k=$dir/issuer
  mkdir -p "$k"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/issuer.key" 2>/dev/null
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/other.key" 2>/dev/null
  chmod 600 "$k"/*.key
  "$RIG_TOOL" jwks --key "$k/issuer.key" --kid "$KID" > "$k/jwks.json"
}

write_config() {
  local sasl=$1 plain=$2 ctrl=$3
  mkdir -p "$dir/data"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$ctrl
listeners=SASL_SSL://127.0.0.1:$sasl,PLAINTEXT://127.0.0.1:$plain,CONTROLLER://127.0.0.1:$ctrl
advertised.listeners=SASL_SSL://127.0.0.1:$sasl,PLAINTEXT://127.0.0.1:$plain
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs=$dir/data

# OAUTHBEARER, validated by the broker itself against the test issuer's JWKS.
sasl.enabled.mechanisms=OAUTHBEARER
listener.name.sasl_ssl.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;
sasl.oauthbearer.jwks.endpoint.url=file://$dir/issuer/jwks.json
sasl.oauthbearer.expected.audience=127.0.0.1,localhost
sasl.oauthbearer.expected.issuer=$ISSUER
sasl.oauthbearer.clock.skew.seconds=2
# Sessions end at the token's exp (KIP-368): clients must reconnect or re-authenticate with a fresh token.
connections.max.reauth.ms=3600000

# TLS with a PEM keystore (no keytool).
ssl.keystore.type=PEM
ssl.keystore.location=$dir/tls/server-keystore.pem
ssl.client.auth=none

# Authorization: the plaintext listeners are ANONYMOUS and super users (the broker talks to itself there).
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false

# A fast single-node profile for tests.
auto.create.topics.enable=true
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
num.network.threads=2
num.io.threads=2
log.retention.check.interval.ms=600000
PROPS
  cat > "$dir/log4j.properties" <<'PROPS'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.controller=WARN
log4j.logger.kafka.authorizer.logger=INFO
PROPS
}

launch() {
  # setsid: the broker outlives the fixture step that started it; stopped by "stop".
  setsid "$JAVA" -Xms256m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
      -Dlog4j.configuration="file:$dir/log4j.properties" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" >> "$dir/broker.log" 2>&1 < /dev/null &
  echo $! > "$dir/broker.pid"
}

wait_ready() {
  local plain
  plain=$(grep '^RIG_PLAIN_BOOTSTRAP=' "$dir/rig.env" | cut -d= -f2)
  if ! "$RIG_TOOL" wait-ready --bootstrap "$plain" --timeout 90 >&2; then
    log "the broker did not become ready; the end of $dir/broker.log:"
    tail -40 "$dir/broker.log" >&2 || true
    stop_broker
    exit 1
  fi
}

stop_broker() {
  [ -f "$dir/broker.pid" ] || return 0
  local pid
  pid=$(cat "$dir/broker.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "broker $pid ignored TERM for 20 s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$dir/broker.pid"
}

case $cmd in
  start)
    t0=$(date +%s.%N)
    [ -f "$dir/broker.pid" ] && stop_broker
    rm -rf "$dir"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    fetch_jars
    read -r sasl plain ctrl < <(free_ports)
    make_tls
    make_issuer
    write_config "$sasl" "$plain" "$ctrl"
    # A cluster id starting with '-' reads as an option to StorageTool ("expected one argument"): 1 start in 64.
    cluster_id=-
    while [[ $cluster_id == -* ]]; do cluster_id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='); done
    "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j.configuration="file:$dir/log4j.properties" \
        -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
        > "$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; exit 1; }
    cat > "$dir/rig.env" <<ENV
# Written by tests/rig/kafka-rig.sh; read by the tests through \$GRACEDB_RIG_ENV.
RIG_SASL_BOOTSTRAP=127.0.0.1:$sasl
RIG_PLAIN_BOOTSTRAP=127.0.0.1:$plain
RIG_CA=$dir/tls/ca.pem
RIG_OTHER_CA=$dir/tls/other-ca.pem
RIG_ISSUER=$ISSUER
RIG_AUDIENCE=127.0.0.1
RIG_KEY=$dir/issuer/issuer.key
RIG_KID=$KID
RIG_OTHER_KEY=$dir/issuer/other.key
RIG_DIR=$dir
RIG_SCRIPT=$here/kafka-rig.sh
RIG_ALLOWED_PREFIX=rig.
RIG_DENIED_TOPIC=$DENIED_TOPIC
RIG_TOOL=$(command -v "$RIG_TOOL")
KAFKA_LIBS=$(cd "$KAFKA_LIBS" && pwd)
ENV
    t1=$(date +%s.%N)
    launch
    wait_ready
    t2=$(date +%s.%N)
    acl_args=()
    for p in "${PRINCIPALS[@]}"; do acl_args+=(--principal "$p"); done
    for p in "${TOPIC_PREFIXES[@]}"; do acl_args+=(--topic-prefix "$p"); done
    "$RIG_TOOL" acl --bootstrap "127.0.0.1:$plain" "${acl_args[@]}" >&2
    t3=$(date +%s.%N)
    awk -v pid="$(cat "$dir/broker.pid")" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
        printf "kafka-rig: broker pid %s up: set-up %.1f s, JVM start to ready %.1f s, ACLs %.1f s\n",
               pid, b - a, c - b, d - c }'
    ;;
  stop)
    stop_broker
    ;;
  stop-broker)
    stop_broker
    ;;
  start-broker)
    RIG_TOOL=$(grep '^RIG_TOOL=' "$dir/rig.env" | cut -d= -f2-)
    KAFKA_LIBS=$(grep '^KAFKA_LIBS=' "$dir/rig.env" | cut -d= -f2-)
    [ -f "$dir/broker.pid" ] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null && exit 0
    launch
    wait_ready
    ;;
  *)
    echo "usage: kafka-rig.sh start|stop|stop-broker|start-broker DIR" >&2
    exit 2
    ;;
esac
