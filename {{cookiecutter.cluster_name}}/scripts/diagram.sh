#!/usr/bin/env bash
# make diagram: build/topology.{dot,svg,png} with graphviz's dot: the droplets by role with their
# names, sizes and IPs (from state/droplets/, written by the apply; "planned" before), and the
# flows between them with their ports, every one read from settings.env. Offline: no API call.
# usage: scripts/diagram.sh [--planned] [--no-png] [--out PREFIX]   (PREFIX: build/topology)
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# node_label NAME ROLE SIZE: a droplet's box, with its IPs when state/ has them.
node_stmt() {
  local name=$1 role=$2 size=$3 file pub="" priv="" style=filled color
  file=$(state_file "$name")
  if [[ "$PLANNED" == no && -s "$file" ]]; then
    IFS=$'\t' read -r pub priv < <(jq -r '[.public_ip // "", .private_ip // ""] | @tsv' "$file")
  fi
  case $role in
    etcd) color="#fde9c9" ;;
    controller) color="#d7e8fb" ;;
    *) color="#dff2df" ;;
  esac
  local ips="planned: IPs once created"
  if [[ -n "$pub$priv" ]]; then
    ips="public ${pub:--}\\nprivate ${priv:--}"
  else
    style="filled,dashed"
  fi
  printf '    "%s" [label="%s\\n%s (%s)\\n%s", style="rounded,%s", fillcolor="%s"];\n' \
    "$name" "$name" "$role" "$size" "$ips" "$style" "$color"
}

# workers: the worker names to draw: WORKERS (default WORKER_COUNT), plus any recorded in state/.
workers() {
  local nn f
  {
    for ((nn = 1; nn <= 10#${WORKERS:-$WORKER_COUNT}; nn++)); do
      worker_name "$nn"
      echo
    done
    if [[ "$PLANNED" == no ]]; then
      for f in "$DROPLET_STATE_DIR/$WORKER_PREFIX"-*.json; do
        [[ -e "$f" ]] || continue
        basename "$f" .json
      done
    fi
  } | sort -u
}

# edge FROM TO LABEL [ATTRS]
edge() {
  printf '  "%s" -> "%s" [label="%s"%s];\n' "$1" "$2" "$3" "${4:+, $4}"
}

topology_dot() {
  local when="planned from settings.env" w c e names=() ctls=() etcds=() api=$CONTROLLER_NAME
  [[ "$PLANNED" == yes ]] || when="droplets as recorded in state/droplets/ ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  mapfile -t names < <(workers)
  mapfile -t ctls < <(controller_names)
  mapfile -t etcds < <(etcd_names)
  ! lb_wanted || api=$LOAD_BALANCER
  cat <<EOF
digraph topology {
  graph [rankdir=LR, fontname="Helvetica", fontsize=12, labelloc=t, nodesep=0.4, ranksep=1.1,
         label="Cluster $CLUSTER_NAME in $REGION: $(image_label), Kubernetes $KUBERNETES_VERSION\\n$when"];
  node [shape=box, fontname="Helvetica", fontsize=10];
  edge [fontname="Helvetica", fontsize=9];
  operator [label="operator\\n(make, doctl, ssh, kubectl)", shape=ellipse, style=filled, fillcolor="#eeeeee"];
  internet [label="clients\\n(NodePort services)", shape=ellipse, style=filled, fillcolor="#eeeeee"];
  subgraph cluster_etcd {
    label="etcd"; color="#c98a2b";
$(for e in "${etcds[@]}"; do node_stmt "$e" etcd "$ETCD_SIZE"; done)
  }
  subgraph cluster_controller {
    label="controller"; color="#2b6cc9";
$(for c in "${ctls[@]}"; do node_stmt "$c" controller "$CONTROLLER_SIZE"; done)
  }$(! lb_wanted || printf '\n  "%s" [label="%s\\nload balancer, tcp %s", shape=hexagon, style=filled, fillcolor="#dde7f7"];' \
    "$LOAD_BALANCER" "$LOAD_BALANCER" "$APISERVER_SECURE_PORT")
  subgraph cluster_workers {
    label="workers (${#names[@]})"; color="#2b9a3a";
$(for w in "${names[@]}"; do node_stmt "$w" worker "$WORKER_SIZE"; done)
  }
EOF
  edge operator "$api" "kubectl\\nhttps $APISERVER_SECURE_PORT/tcp" 'color="#2b6cc9"'
  if lb_wanted; then
    for c in "${ctls[@]}"; do
      edge "$api" "$c" "tcp $APISERVER_SECURE_PORT\\n(health check tcp)" 'color="#2b6cc9"'
    done
  fi
  for w in "${etcds[@]}" "${ctls[@]}" "${names[@]}"; do
    edge operator "$w" "ssh $SSH_PORT/tcp" 'style=dashed, color="#888888"'
  done
  # a static cluster's members each talk to every other one on the peer port (a mesh)
  local i j
  for ((i = 0; i < ${#etcds[@]}; i++)); do
    for ((j = i + 1; j < ${#etcds[@]}; j++)); do
      edge "${etcds[i]}" "${etcds[j]}" "etcd peers\\n$ETCD_PEER_PORT/tcp (private)" 'dir=both, color="#c98a2b"'
    done
  done
  # who talks to etcd (ETCD_CLIENTS, scripts/lib/profile.sh): every node's proxy, which knows
  # every member's peer URL, or the apiservers alone, with their etcd client certificate
  local clients=("${ctls[@]}") label="etcd client (mutual TLS)\\n$ETCD_CLIENT_PORT/tcp (private)"
  if [[ "$ETCD_CLIENTS" == proxies ]]; then
    clients+=("${names[@]}")
    label="etcd proxy: client $ETCD_CLIENT_PORT/tcp,\\npeer $ETCD_PEER_PORT/tcp (private)"
  fi
  for w in "${clients[@]}"; do
    for e in "${etcds[@]}"; do
      edge "$w" "$e" "$label" 'color="#c98a2b"'
    done
  done
  for w in "${names[@]}"; do
    edge "$w" "$api" "apiserver\\nhttps $APISERVER_SECURE_PORT/tcp" 'color="#2b6cc9"'
    for c in "${ctls[@]}"; do
      edge "$c" "$w" "kubelet $KUBELET_PORT/tcp" 'color="#555555"'
      if [[ -n "$FLANNEL_PORT" ]]; then
        edge "$c" "$w" "flannel $FLANNEL_BACKEND\\n$FLANNEL_PORT (private)" 'dir=both, style=dotted, color="#2b9a3a"'
      fi
    done
    edge internet "$w" "NodePorts\\n$NODE_PORT_RANGE/tcp" 'color="#7a3fb0"'
  done
  echo "}"
}

main() {
  PLANNED=no
  local out=$BUILD_DIR/topology formats=(dot svg png)
  while (($#)); do
    case $1 in
      --planned) PLANNED=yes ;;
      --no-png) formats=(dot svg) ;;
      --out) out=${2:?--out needs a path prefix}; shift ;;
      *) die "usage: $0 [--planned] [--no-png] [--out PREFIX]" ;;
    esac
    shift
  done
  require_tools dot jq
  mkdir -p "$(dirname "$out")"
  step "topology of $CLUSTER_NAME ($([[ "$PLANNED" == yes ]] && echo planned || echo "from $DROPLET_STATE_DIR/"))"
  topology_dot >"$out.dot.tmp"
  local f
  for f in "${formats[@]:1}"; do
    dot "-T$f" -Gdpi=96 "$out.dot.tmp" -o "$out.$f.tmp" || die "dot rejected $out.dot.tmp"
  done
  for f in "${formats[@]}"; do
    mv "$out.$f.tmp" "$out.$f"
  done
  step_done
  summary "topology of $CLUSTER_NAME" "${formats[@]/#/$out.}"
}

main "$@"
