"""deploy/: the cluster-launcher configs pass Ray's own validator; the KubeRay manifests say what they must."""

from __future__ import annotations

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


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
    assert "export RAY_AUTH_MODE=token" in setup and "RAY_AUTH_MODE=disabled" not in setup


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
        _assert_token_env(c["env"], c["name"])


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
    assert yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]["RAY_AUTH_MODE"] == "token"
    assert "RAY_AUTH_TOKEN" not in job["spec"]["runtimeEnvYAML"]  # a secret never travels in the job's config
    (submitter,) = job["spec"]["submitterPodTemplate"]["spec"]["containers"]
    _assert_token_env(submitter["env"], "submitter")


def test_kuberay_pods_mount_the_shared_dataset_dir():
    """The RayJob's tune.dataset_dir must be a volume every pod of the cluster mounts."""
    cluster = yaml.safe_load((DEPLOY / "kuberay" / "raycluster.yaml").read_text())
    groups = [cluster["spec"]["headGroupSpec"]] + cluster["spec"]["workerGroupSpecs"]
    for group in groups:
        pod = group["template"]["spec"]
        mounts = {m["mountPath"] for c in pod["containers"] for m in c.get("volumeMounts", [])}
        assert "/mnt/shared" in mounts and any("persistentVolumeClaim" in v for v in pod["volumes"])


SECRET = {"secretKeyRef": {"name": "rayeaq-ray-token", "key": "auth_token"}}


def _assert_token_env(env: list[dict], where: str) -> None:
    """Token auth with the token from the Kubernetes Secret (never a literal value)."""
    assert {"name": "RAY_AUTH_MODE", "value": "token"} in env, where
    (token,) = [e for e in env if e["name"] == "RAY_AUTH_TOKEN"]
    assert token == {"name": "RAY_AUTH_TOKEN", "valueFrom": SECRET} and "value" not in token, where


def _env_of(text: str) -> dict[str, str]:
    """``RAY_AUTH_MODE`` values set anywhere in a file (YAML env entries, shell exports, ENV lines)."""
    import re

    return {m.group(1): m.group(2) for m in re.finditer(r"(RAY_AUTH_MODE)\W{1,20}?(token|disabled)\b", text)}


def test_no_dashboard_on_all_interfaces_without_token_auth():
    """Every manifest that binds the dashboard to 0.0.0.0 runs every Ray container with token auth from the Secret;
    the launcher config keeps the dashboard on loopback (reached through `ray dashboard`'s SSH tunnel)."""
    cluster = _load("kuberay/raycluster.yaml")
    head = cluster["spec"]["headGroupSpec"]
    if head["rayStartParams"].get("dashboard-host", "127.0.0.1") != "127.0.0.1":
        _assert_token_env(head["template"]["spec"]["containers"][0]["env"], "head")
        _assert_token_env(cluster["spec"]["autoscalerOptions"]["env"], "autoscaler")
    services = [
        d
        for name in ("raycluster.yaml", "rayjob.yaml")
        for d in yaml.safe_load_all((DEPLOY / "kuberay" / name).read_text())
        if d and d.get("kind") == "Service"
    ]
    assert not services and "serviceType" not in head, "no Service may expose the dashboard outside the cluster"
    launcher = _load("cluster.yaml")
    starts = " ".join(launcher["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in starts and "0.0.0.0" not in starts
    assert launcher["file_mounts"]["/home/ubuntu/.ray/auth_token"] == "~/.ray/auth_token"
    for name in ("cluster.yaml", "Dockerfile", "kuberay/raycluster.yaml", "kuberay/rayjob.yaml"):
        text = (DEPLOY / name).read_text()
        assert set(_env_of(text).values()) == {"token"}, name
        assert "RAY_AUTH_TOKEN=" not in text and "kind: Secret" not in text, name  # no token in the repository


def test_dockerfile_defaults_to_token_auth_without_a_baked_token():
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines() if line.startswith("ENV")]
    assert any("RAY_AUTH_MODE=token" in line for line in lines)
    assert not any("RAY_AUTH_TOKEN" in line for line in lines)


def test_one_machine_demo_keeps_loopback_without_a_token():
    """The fake multi-node cluster runs on one machine's loopback: no token there, as for local runs."""
    assert _env_of((DEPLOY / "fake_cluster.yaml").read_text()).get("RAY_AUTH_MODE") == "disabled"
