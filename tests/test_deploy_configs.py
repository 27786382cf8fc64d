"""deploy/: the cluster-launcher configs pass Ray's own validator; the KubeRay manifests say what they must."""

from __future__ import annotations

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def _workers(config: dict) -> dict:
    return {k: v for k, v in config["available_node_types"].items() if k != config["head_node_type"]}


def test_cluster_launcher_config_is_valid_for_ray():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(_load("cluster.yaml"))  # fills provider defaults, as `ray up` does
    validate_config(config)
    workers = _workers(config)
    assert all(t["min_workers"] == 0 for t in workers.values())
    assert config["available_node_types"][config["head_node_type"]]["resources"] == {"CPU": 0}
    gpu = [t for t in workers.values() if t["resources"].get("GPU", 0) >= 1]
    collect = [t for t in workers.values() if t["resources"].get("collect", 0) >= 1 and "GPU" not in t["resources"]]
    assert gpu and collect, "expected autoscaling GPU workers (fit/evaluate) and CPU workers (collect)"
    setup = "\n".join(config["setup_commands"])
    assert setup.count("torch==2.13.0") == 2 and "whl/cpu" in setup and "whl/cu" in setup
    assert setup.index("torch==2.13.0") < setup.index("pip install -e")  # torch pinned before the package
    assert "RAY_AUTH_MODE" in setup


def test_fake_cluster_config_follows_the_recipe():
    from ray.autoscaler._private.util import validate_config

    config = _load("fake_cluster.yaml")
    validate_config(config)  # Ray's schema (prepare_config needs the example.yaml the wheel lacks)
    assert config["provider"] == {
        **config["provider"],
        "type": "fake_multinode",
        "use_node_id_as_ip": True,
        "disable_node_updaters": True,
        "disable_launch_config_check": True,
    }
    (worker,) = _workers(config).values()
    assert worker["min_workers"] == 0 and 1 <= worker["resources"]["CPU"] <= 2 and worker["max_workers"] >= 2


def test_kuberay_cluster_autoscales_from_zero():
    cluster = _load("kuberay/raycluster.yaml")
    assert cluster["apiVersion"] == "ray.io/v1" and cluster["kind"] == "RayCluster"
    spec = cluster["spec"]
    assert spec["enableInTreeAutoscaling"] is True and spec["rayVersion"] == "2.60.0"
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    assert all(g["minReplicas"] == 0 and g["maxReplicas"] >= 1 for g in groups.values())

    def limits(group):
        return group["template"]["spec"]["containers"][0]["resources"]["limits"]

    assert any(limits(g).get("nvidia.com/gpu") == 1 and g["rayStartParams"]["num-gpus"] == "1" for g in groups.values())
    assert any("collect" in g["rayStartParams"].get("resources", "") for g in groups.values())
    containers = [spec["headGroupSpec"]["template"]["spec"]["containers"][0]] + [
        g["template"]["spec"]["containers"][0] for g in groups.values()
    ]
    for c in containers:
        assert {"name": "RAY_AUTH_MODE", "value": "disabled"} in c["env"], c["name"]


def test_kuberay_job_runs_the_sweep_on_that_cluster():
    job, cluster = _load("kuberay/rayjob.yaml"), _load("kuberay/raycluster.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    assert job["spec"]["entrypoint"].split() == [
        "python",
        "-m",
        "rayeaq.tune",
        "tune_configs/eaq.yaml",
        "tune.dataset_dir=/mnt/shared/rayeaq/datasets",
    ]
    assert job["spec"]["clusterSelector"]["ray.io/cluster"] == cluster["metadata"]["name"]
    assert job["spec"]["runtimeEnvYAML"] and yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]["RAY_AUTH_MODE"]


def test_kuberay_pods_mount_the_shared_dataset_dir():
    """The RayJob's tune.dataset_dir must be a volume every pod of the cluster mounts."""
    cluster = yaml.safe_load((DEPLOY / "kuberay" / "raycluster.yaml").read_text())
    groups = [cluster["spec"]["headGroupSpec"]] + cluster["spec"]["workerGroupSpecs"]
    for group in groups:
        pod = group["template"]["spec"]
        mounts = {m["mountPath"] for c in pod["containers"] for m in c.get("volumeMounts", [])}
        assert "/mnt/shared" in mounts and any("persistentVolumeClaim" in v for v in pod["volumes"])
