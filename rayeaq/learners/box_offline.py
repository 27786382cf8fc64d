"""The shared driver of the pure-torch offline learners on box actions (``dom2``, ``omsd``): data in, result files out.

- :func:`load_box_data`: a schema-v2 dataset mixture -> td3bc's :class:`TransitionSampler` over its transitions
  (optionally after DOM2's trajectory replication), with the global state added for centralised critics.
- :func:`episode_returns`: greedy decentralised rollouts on the vmapped MPE, one return per held-out seed.
- :func:`train_and_evaluate`: the update / evaluate loop writing ``metrics.jsonl``, ``marl_eval.json``,
  ``summary.json`` (with 95 % intervals) and ``checkpoint/model.pt`` -- the files every learner writes.

Actions inside the learners are in [-1, 1] (``[B, N, Da]``); :class:`BoxData` maps to and from the map's box.
Pure numpy/torch (JAX only inside :func:`episode_returns`); no Ray.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from rayeaq.core.errors import DatasetError
from rayeaq.core.runinfo import derive_seed
from rayeaq.data.card import DatasetCard, normalized_score, read_card
from rayeaq.learners.dom2.replicate import replication_counts
from rayeaq.learners.qmix.intervals import bootstrap_mean_interval
from rayeaq.learners.registry import Report
from rayeaq.learners.td3bc.transitions import TransitionSampler

Batch = dict[str, torch.Tensor]


@dataclass
class BoxData:
    """Transitions of a mixture, the first dataset's card and the figures of the data."""

    sampler: TransitionSampler
    """Arrays (leading axis M transitions): obs/next_obs ``[M,N,Do]``, actions ``[M,N,Da]`` in [-1, 1],
    reward ``[M,N]`` per agent, team_reward ``[M]``, state/next_state ``[M,Ds]``, done ``[M]``."""
    card: DatasetCard
    stats: dict[str, Any] = field(default_factory=dict)
    """dataset_episodes, dataset_return_mean, dataset_normalized_score (before replication), replicated_episodes."""

    @property
    def low(self) -> float:
        return float(self.card.resolved_action_space()["low"])

    @property
    def high(self) -> float:
        return float(self.card.resolved_action_space()["high"])

    def from_unit(self, unit: np.ndarray) -> np.ndarray:
        """Actions in [-1, 1] -> the map's box (same shape)."""
        return self.low + (np.clip(unit, -1.0, 1.0) + 1.0) * 0.5 * (self.high - self.low)

    def sample(self, batch_size: int) -> Batch:
        """``batch_size`` uniform transitions as float tensors (``done`` as float)."""
        return {k: torch.from_numpy(v.astype(np.float32)) for k, v in self.sampler.sample(batch_size).items()}

    def tensors(self) -> Batch:
        """Every transition as float tensors (omsd's stage 1 draws its own minibatches)."""
        return {k: torch.from_numpy(v.astype(np.float32)) for k, v in self.sampler.arrays.items()}


def load_box_data(
    sources: list[tuple[str, float]], seed: int, learner: str, replicate_fractions: list[float] | None = None
) -> BoxData:
    """Load a box-action mixture; ``replicate_fractions`` applies DOM2's Algorithm 1 to its episodes first
    (thresholds = fractions of the map's maximum return, ``>=``, the convention of ``augment.dom2_thresholds``)."""
    from rayeaq.data.reader import load_mixture

    if not sources:
        raise DatasetError("no dataset given (use --dataset DIR[:weight])")
    card = read_card(sources[0][0])
    space = card.resolved_action_space()
    if space["kind"] != "box":
        raise DatasetError(f"{sources[0][0]}: {learner} needs box (continuous) actions, the dataset's are {space}")
    mixture: list[tuple[str | Path, float]] = [(p, w) for p, w in sources]
    episodes, _ = load_mixture(mixture, seed=derive_seed(seed, "evaluate", "mixture"))
    reference = dict(card.reference_returns)
    mean = float(episodes.episode_return.mean())
    stats: dict[str, Any] = {
        "dataset_episodes": len(episodes),
        "dataset_return_mean": mean,
        "dataset_normalized_return": mean / card.max_return if card.max_return else None,
        "dataset_normalized_score": normalized_score(mean, reference),
    }
    if replicate_fractions:
        bounds = [f * card.max_return - 1e-6 for f in replicate_fractions]
        episodes = episodes.select(
            np.repeat(np.arange(len(episodes)), replication_counts(episodes.episode_return, bounds))
        )
        stats["replicated_episodes"] = len(episodes)
    lo, hi = float(space["low"]), float(space["high"])
    episodes.actions = (2.0 * (episodes.actions - lo) / (hi - lo) - 1.0).astype(np.float32)
    sampler = TransitionSampler(episodes, seed=derive_seed(seed, "evaluate", "sampler"))
    b, t = np.nonzero(episodes.filled)  # the sampler's own order (it flattens the same mask)
    sampler.arrays["state"] = episodes.state[b, t]
    sampler.arrays["next_state"] = episodes.state[b, t + 1]
    sampler.arrays["team_reward"] = episodes.reward[b, t].astype(np.float32)
    return BoxData(sampler, card, stats)


def episode_returns(
    act: Callable[[np.ndarray], np.ndarray], map_name: str, seeds: np.ndarray, n_envs: int
) -> np.ndarray:
    """Team return ``[len(seeds)]`` of one episode per seed (``n_envs`` at a time); ``act(obs [B,N,Do])`` returns
    actions ``[B,N,Da]`` in the map's box."""
    from rayeaq.envs.mpe.batch import MPEBatchEnv

    seeds = np.asarray(seeds)
    n_envs = min(n_envs, len(seeds))
    env = MPEBatchEnv(map_name, n_envs)
    out = []
    for start in range(0, len(seeds), n_envs):
        chunk = seeds[start : start + n_envs]
        obs, _ = env.reset(np.concatenate([chunk, np.repeat(chunk[-1:], n_envs - len(chunk))]))
        total, done = np.zeros(n_envs), False
        while not done:
            obs, _, reward, _, done = env.step(act(obs))
            total += reward
        out.append(total[: len(chunk)])
    return np.concatenate(out)


class TorchOfflineLearner(Protocol):
    """What the loop needs from a learner: one update on a batch, greedy unit actions, a state to save."""

    def update(self, batch: Batch) -> dict[str, float]: ...

    def act_unit(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs [B,N,Do]`` -> actions ``[B,N,Da]`` in [-1, 1] (no gradient)."""
        ...

    def state_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LoopSettings:
    """The shared evaluation fields (``evaluate.*``) and the learner's own batch size."""

    name: str
    updates: int
    eval_interval: int
    eval_episodes: int
    final_eval_episodes: int
    eval_envs: int
    batch_size: int
    checkpoint: bool


def evaluate_learner(learner: TorchOfflineLearner, data: BoxData, seed: int, episodes: int, n_envs: int) -> dict:
    """Greedy rollouts on the held-out seeds ``derive_seed(seed, "evaluate", "episodes") + i``: mean, std, 95 %
    bootstrap intervals of the return, the normalized return (/ max_return) and the normalized score (D4RL/OMAR:
    0 = random, 100 = expert reference), the data's figures beside."""
    first = derive_seed(seed, "evaluate", "episodes")
    seeds = (first + np.arange(episodes, dtype=np.int64)) % (2**31 - 1)

    def act(obs: np.ndarray) -> np.ndarray:
        return data.from_unit(learner.act_unit(torch.tensor(obs, dtype=torch.float32)).numpy())

    returns = episode_returns(act, data.card.map, seeds, n_envs)
    mean = float(returns.mean())
    low, high = bootstrap_mean_interval(returns, derive_seed(seed, "evaluate", "bootstrap"))
    ref, top = dict(data.card.reference_returns), data.card.max_return
    row = {
        "return_mean": mean,
        "return_std": float(returns.std()),
        "return_ci95_low": low,
        "return_ci95_high": high,
        "episodes": int(returns.size),
        # return / max_return: the sweep's score on every backend (the card's convention)
        "normalized_return": mean / top if top else None,
        "normalized_return_ci95_low": low / top if top else None,
        "normalized_return_ci95_high": high / top if top else None,
        "normalized_score": normalized_score(mean, ref),
        "normalized_score_ci95_low": normalized_score(low, ref),
        "normalized_score_ci95_high": normalized_score(high, ref),
        **data.stats,
    }
    return {"row": row, "returns": returns}


def train_and_evaluate(
    learner: TorchOfflineLearner,
    data: BoxData,
    s: LoopSettings,
    seed: int,
    sources: list[tuple[str, float]],
    out: Path,
    report: Report | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``s.updates`` updates on uniform minibatches, evaluating every ``s.eval_interval`` (and at the end, on
    ``final_eval_episodes``); writes the result files into ``out`` and returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.jsonl"
    metrics_path.write_text("", encoding="utf-8")
    rows: list[dict[str, Any]] = []
    marl: dict[str, Any] = {}
    start, eval_s = time.perf_counter(), 0.0
    last: dict[str, float] = {}
    for update in range(1, s.updates + 1):
        last = learner.update(data.sample(s.batch_size))
        final = update == s.updates
        if final or update % s.eval_interval == 0:
            train_s = time.perf_counter() - start - eval_s
            t0 = time.perf_counter()
            ev = evaluate_learner(learner, data, seed, s.final_eval_episodes if final else s.eval_episodes, s.eval_envs)
            eval_s += time.perf_counter() - t0
            row = {"updates": update, "final": final, **ev["row"], **last, "train_s": round(train_s, 2)}
            rows.append(row)
            with metrics_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            marl[f"step_{len(rows) - 1}"] = {
                "step_count": update,
                "return": ev["returns"].tolist(),
                "normalized_return": [row["normalized_return"]],
                "normalized_score": [row["normalized_score"]],
            }
            if report is not None:
                report(row)
    marl["absolute_metrics"] = dict(marl[f"step_{len(rows) - 1}"])
    label = s.name
    (out / "marl_eval.json").write_text(
        json.dumps({data.card.backend: {data.card.map: {label: {f"seed_{seed}": marl}}}}), encoding="utf-8"
    )
    checkpoint = None
    if s.checkpoint:
        (out / "checkpoint").mkdir(exist_ok=True)
        checkpoint = str(out / "checkpoint" / "model.pt")
        torch.save(learner.state_dict(), checkpoint)
    summary = {
        "algorithm": label,
        "map": data.card.map,
        "seed": seed,
        **{k: v for k, v in rows[-1].items() if k != "final"},
        "updates_per_s": round(s.updates / max(rows[-1]["train_s"], 1e-9), 3),
        "datasets": [{"path": str(p), "weight": w} for p, w in sources],
        **(extra or {}),
        "checkpoint": checkpoint,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
