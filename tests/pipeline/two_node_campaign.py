"""Runs a tiny campaign on a real two-node Ray cluster (`ray.cluster_utils.Cluster`).

The second node alone has the custom resource `oracle_node`, which the oracle asks for; the head
alone has `fit_node`, which the surrogate's fit task asks for. Used by
test_two_node.py in a child process (a pytest process may already hold a Ray of its own); prints
a JSON line with the node ids. The cluster is shut down also on failure.
"""

import json
import sys

from ray.cluster_utils import Cluster

from sciloop.pipeline.campaign import Campaign


def main(run_dir: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {"fit_node": 1}, "include_dashboard": False, "object_store_memory": 100 * 1024**2})
    try:
        worker = cluster.add_node(num_cpus=1, resources={"oracle_node": 1},
                                  object_store_memory=100 * 1024**2)
        cluster.wait_for_nodes()
        config = {
            "name": "two-node", "seed": 3, "rounds": 1, "batch_size": 6, "run_dir": run_dir,
            "initial": {"size": 8},
            "oracle": {"target": "qed", "batch_size": 2, "num_cpus": 0.25, "resources": {"oracle_node": 0.1}},
            "surrogate": {"members": 2, "hidden": 16, "epochs": 5, "placement": "ray", "num_cpus": 0.25,
                          "resources": {"fit_node": 1}},
            "proposer": {"steps": 2, "batch_size": 8, "hidden": 16, "max_len": 16, "pretrain_steps": 2,
                         "num_actors": 2, "actor_num_cpus": 0.25, "pool_factor": 3},
            "ray": {"address": cluster.address},
            "tracking": {"experiment": "two-node"},
        }
        campaign = Campaign.from_config(config)
        campaign.run()  # connects to the cluster, and disconnects when done
        import ray

        ray.init(address=cluster.address)
        nodes = {"head": cluster.head_node.node_id, "worker": worker.node_id,
                 "alive": sorted(n["NodeID"] for n in ray.nodes() if n["Alive"]),
                 "oracle": sorted(campaign.ledger.nodes("oracle")),
                 "proposer": sorted(campaign.ledger.nodes("proposer")),
                 "surrogate": sorted(campaign.ledger.nodes("surrogate"))}
        print("NODES " + json.dumps(nodes), flush=True)
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
