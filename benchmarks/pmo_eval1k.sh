#!/bin/bash
# The frozen 1K method's sweep (issue 17, PMO-1K): sciloop on the 16 stable objectives, seeds 0-2, one
# run at a time, seed-major, the two hops (slow oracles) last; `--missing` skips every run that already
# has a result for this config (f9151110deb1) and corpus. Result files land in benchmarks/results/pmo/
# (commit each one). Run from the repository root, alone or beside the 10K sweep (pmo_eval10k.sh):
#   NICE=19 nohup bash benchmarks/pmo_eval1k.sh > pmo-eval1k.log 2>&1 &
# NICE (default 0) lowers its priority when it shares the machine with the 10K sweep, whose wall
# times are the ones reported.
set -u
SCILOOP=${SCILOOP:-.venv/bin/sciloop}
NICE=${NICE:-0}
NONHOP="albuterol_similarity amlodipine_mpo celecoxib_rediscovery fexofenadine_mpo median1 median2
mestranol_similarity osimertinib_mpo perindopril_mpo qed ranolazine_mpo thiothixene_rediscovery
troglitazone_rediscovery valsartan_smarts"
run() {
  echo "$(date +%T) sciloop PMO-1K $1 seed $2, load $(cut -d' ' -f1-3 /proc/loadavg)"
  nice -n "$NICE" "$SCILOOP" bench pmo --budget 1000 --corpus zinc250k --methods sciloop --seeds "$2" --missing \
    --objectives "$1"
}
for seed in 0 1 2; do for obj in $NONHOP; do run "$obj" "$seed"; done; done
for seed in 0 1 2; do for obj in scaffold_hop deco_hop; do run "$obj" "$seed"; done; done
