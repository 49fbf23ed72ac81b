#!/bin/bash
# The frozen 10K method's evaluation sweep (issue 17), one run at a time, each started only once the
# 1-minute load average is below 1.3 (the wall-time protocol: low load, nothing else running).
# Result files land in benchmarks/results/pmo/ (commit each one). Run from the repository root:
#   nohup bash benchmarks/pmo_eval10k.sh > pmo-eval10k.log 2>&1 &
# LOAD_BELOW (default 1.3) raises the bar when a niced peer run shares the machine on purpose; NICE
# (default 0) lowers this sweep's priority; BUDGET (default 10000) runs the frozen method of another
# budget (benchmarks/pmo_eval1k.sh: 1000). Seed-major over the 14 non-hop stable objectives, then the
# two hops (slow oracles) for seeds 0-2; `--missing` skips every run that already has a result for
# this config and corpus.
set -u
SCILOOP=${SCILOOP:-.venv/bin/sciloop}
LOAD_BELOW=${LOAD_BELOW:-1.3}
NICE=${NICE:-0}
BUDGET=${BUDGET:-10000}
NONHOP="albuterol_similarity amlodipine_mpo celecoxib_rediscovery fexofenadine_mpo median1 median2
mestranol_similarity osimertinib_mpo perindopril_mpo qed ranolazine_mpo thiothixene_rediscovery
troglitazone_rediscovery valsartan_smarts"
settle() {  # at most 10 minutes
  for _ in $(seq 60); do
    awk -v bar="$LOAD_BELOW" '{exit !($1 < bar)}' /proc/loadavg && return
    sleep 10
  done
}
run() {
  settle
  echo "$(date +%T) $1 seed $2, load $(cut -d' ' -f1-3 /proc/loadavg)"
  nice -n "$NICE" "$SCILOOP" bench pmo --budget "$BUDGET" --corpus zinc250k --methods sciloop --seeds "$2" --missing --objectives "$1"
}
for seed in 0 1 2; do for obj in $NONHOP; do run "$obj" "$seed"; done; done
for seed in 0 1 2; do for obj in scaffold_hop deco_hop; do run "$obj" "$seed"; done; done
