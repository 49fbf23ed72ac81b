#!/bin/bash
# The frozen 1K method's sweep (issue 17, PMO-1K): pmo_eval10k.sh at a budget of 1,000, by default
# without its wait for a low load (its wall times are not the ones reported). Beside the 10K sweep:
#   NICE=19 nohup bash benchmarks/pmo_eval1k.sh > pmo-eval1k.log 2>&1 &
BUDGET=1000 LOAD_BELOW=${LOAD_BELOW:-99} exec bash "$(dirname "$0")/pmo_eval10k.sh"
