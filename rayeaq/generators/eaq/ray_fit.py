"""Ray Train adapter: ``TorchTrainer`` (Train V2) runs :class:`rayeaq.diffusion.train.Trainer` on N DDP workers.

Rank 0 writes a checkpoint every ``fit.checkpoint_every`` steps (and at the last step) and every
rank reports the loss every ``fit.report_every`` steps through ``ray.train.report``. A rerun with
the same ``--out`` finds Ray Train's run state under ``OUT/ray_train/fit`` and resumes from the
latest checkpoint. A NaN/inf loss on any worker ends the run with a one-line :class:`NonFiniteLossError`.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from rayeaq.generators.eaq.train import NonFiniteLossError

RUN_NAME = "fit"


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """One DDP rank: load the dataset, restore the latest checkpoint if any, train, report, checkpoint."""
    import ray.train
    import torch
    from ray.train import Checkpoint

    from rayeaq.core.runinfo import derive_seed
    from rayeaq.data.reader import load_dataset
    from rayeaq.generators.eaq.config import DiffusionConfig, FitConfig
    from rayeaq.generators.eaq.layout import Layout, Normalizer
    from rayeaq.generators.eaq.train import (
        Trainer,
        load_checkpoint,
        prepare_data,
        save_checkpoint,
    )

    run = config["run"]  # the sections a fit reads, as plain JSON (the run config stays above this module)
    cfg = SimpleNamespace(
        seed=int(run["seed"]),
        diffusion=DiffusionConfig.model_validate(run["diffusion"]),
        fit=FitConfig.model_validate(run["fit"]),
    )
    torch.set_num_threads(cfg.fit.torch_threads)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device() if cfg.fit.use_gpu else torch.device("cpu")
    layout, norm = Layout.from_dict(config["layout"]), Normalizer.from_dict(config["normalizer"])
    data = prepare_data(load_dataset(config["dataset"]["path"]).episodes, layout, norm)
    torch.manual_seed(derive_seed(cfg.seed, "fit", "init"))  # identical initial weights on every rank

    def wrap(model: torch.nn.Module) -> torch.nn.Module:
        if world == 1:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    trainer = Trainer(cfg.diffusion, cfg.fit, layout, norm, device=device, wrap=wrap)
    history: list[dict[str, float]] = []
    resumed_from = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            payload = load_checkpoint(directory)
        trainer.load_payload(payload)
        history, resumed_from = list(payload["history"]), int(payload["step"])
    extra = {k: config[k] for k in ("spec", "dataset")}

    def on_step(tr: Trainer, metrics: dict[str, float]) -> None:
        last = tr.step == cfg.fit.steps
        report = tr.step % cfg.fit.report_every == 0 or last
        save = tr.step % cfg.fit.checkpoint_every == 0 or last
        if not (report or save):
            return
        row = {"step": tr.step, "time": time.time(), **metrics}
        history.append(row)
        if save:
            with tempfile.TemporaryDirectory() as tmp:
                if rank == 0:
                    payload = tr.payload(
                        {**extra, "history": history, "resumed_from": resumed_from, "world_size": world}
                    )
                    save_checkpoint(tmp, payload)
                ray.train.report(row, checkpoint=Checkpoint.from_directory(tmp) if rank == 0 else None)
        else:
            ray.train.report(row)

    trainer.run(data, seed=derive_seed(cfg.seed, "fit", "batches", rank), on_step=on_step)


def progress_callback(total_steps: int) -> Any:
    """A Ray Train callback that draws the fit's progress (step, loss) on the driver's terminal.

    Ray Train calls it in its controller actor; ``ray.experimental.tqdm_ray`` forwards the bar to the driver.
    """
    from ray.experimental.tqdm_ray import tqdm
    from ray.train import UserCallback

    class FitProgress(UserCallback):
        def __init__(self) -> None:
            self.bar: Any = None

        def after_report(self, run_context, metrics, checkpoint) -> None:
            if self.bar is None:
                self.bar = tqdm(total=total_steps, desc="fit", unit="step")
            row = metrics[0]
            self.bar.set_description(f"fit loss {row.get('loss', float('nan')):.4f}")
            self.bar.update(int(row["step"]) - self.bar.n)
            if int(row["step"]) >= total_steps:
                self.bar.close()

    return FitProgress()


def fit_with_ray(cfg, inputs: dict[str, Any], out: Path, callbacks: list | None = None):
    """Run the TorchTrainer; returns Ray Train's ``Result``. Needs a started Ray (``ray_session``)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.train.v2.api.exceptions import WorkerGroupError

    resources = {"CPU": cfg.fit.cpus_per_worker}
    if cfg.fit.use_gpu:
        resources["GPU"] = 1.0
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            "run": {
                "seed": cfg.seed,
                "diffusion": cfg.diffusion.model_dump(mode="json"),
                "fit": cfg.fit.model_dump(mode="json"),
            },
            **inputs,
        },
        torch_config=TorchConfig(backend="nccl" if cfg.fit.use_gpu else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=cfg.fit.workers, use_gpu=cfg.fit.use_gpu, resources_per_worker=resources
        ),
        run_config=RunConfig(
            name=RUN_NAME,
            storage_path=str((out / "ray_train").resolve()),
            checkpoint_config=CheckpointConfig(num_to_keep=cfg.fit.keep_checkpoints),
            failure_config=FailureConfig(max_failures=0),
            callbacks=callbacks or [],
        ),
    )
    try:
        return trainer.fit()
    except WorkerGroupError as err:
        for failure in err.worker_failures.values():
            for line in str(failure).splitlines():
                if "fit: loss became" in line:
                    raise NonFiniteLossError(line[line.index("fit: loss became") :].strip()) from None
        raise
