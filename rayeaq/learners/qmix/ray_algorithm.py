"""RLlib adapter: ``QMIXConfig`` (an AlgorithmConfig) and ``QMIX`` (an Algorithm) for offline QMIX/CQL/BC.

How the parts map onto RLlib 2.60's new API stack, and where they could not:

- **Learning** is fully RLlib: a team :class:`~rayeaq.qmix.ray_module.QMIXTeamModule` inside a
  MultiRLModule, trained by :class:`~rayeaq.qmix.ray_learner.QMIXTorchLearner` through the algorithm's
  ``LearnerGroup`` (``num_learners=0``: one local learner; ``n > 0``: n remote learner actors with DDP,
  each optionally on a GPU; the batch is split by episodes, one shard per learner).
- **Data**: RLlib's offline API (``OfflineData``/``OfflinePreLearner``) cannot load multi-agent episodes in
  2.60 (``NotImplementedError``), and its learner connectors build per-agent, per-timestep batches, not a
  team's padded ``[B, T, N, ...]`` sequences. So ``training_step`` draws sequence batches from our own
  reader (:func:`rayeaq.data.reader.load_mixture`) and hands them to ``LearnerGroup.update(batch=...)`` as a
  ``MultiAgentBatch`` (no learner connector; ``_is_online = False`` and no ``input_``, so RLlib builds
  neither EnvRunners nor OfflineData).
- **Evaluation**: RLlib's EnvRunners step one gym/MultiAgentEnv per episode and expect per-agent
  modules with connectors; our evaluation steps many SMAX battles at once with ``jax.vmap`` and a
  recurrent team module. ``evaluate()`` is therefore overridden: it pulls the weights from the
  LearnerGroup (``get_weights``) and runs decentralised greedy rollouts in the driver or in
  ``rollout_workers`` Ray actors (:mod:`rayeaq.learners.qmix.ray_rollout`), returning RLlib's
  ``{"evaluation": {...}}`` result shape.
- **Checkpoints**: ``save_to_path``/``from_checkpoint`` are RLlib's (Checkpointable); the data is not copied
  into checkpoints: the config names each dataset by its path relative to ``data_root`` and by its fingerprint,
  so :func:`restore` finds a moved data tree (``data_root=``) and refuses a different dataset at the same path;
  the sampler's RNG state and the count of trained env steps are part of the algorithm state, so a resumed run
  draws the batches an uninterrupted one would.
"""

from __future__ import annotations

import itertools
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import LEARNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME
from ray.util.debug import log_once

from rayeaq.learners.qmix.config import CQLConfig
from rayeaq.learners.qmix.networks import NetSpec
from rayeaq.learners.qmix.ray_module import MODULE_ID, module_spec, spaces
from rayeaq.learners.qmix.sampler import EpisodeSampler
from rayeaq.learners.registry import LearnerDiedError

if TYPE_CHECKING:
    from rayeaq.learners.qmix.ray_rollout import RolloutRunner

SAMPLER_STATE = "qmix_sampler"
"""Key of the sampler's state (numpy bit-generator state, trained env steps) in the algorithm state."""


class QMIXConfig(AlgorithmConfig):
    """Offline QMIX / QMIX+CQL / BC on a dataset mixture (see the module docstring for the RLlib mapping).

    Defaults of the QMIX options are those of :class:`rayeaq.qmix.config.EvaluateConfig`, except ``td_lambda``
    (0 here: one-step targets, which the online trainer, :mod:`rayeaq.stages.ray_online`, keeps). The module spec
    is built from ``net``, ``gamma`` and ``double_q`` when RLlib asks for it
    (:meth:`get_default_rl_module_spec`), so ``.training()`` and ``.qmix()`` may be called in any order.
    """

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or QMIX)
        self._is_online = False  # no EnvRunners: data comes from our dataset reader
        self.lr = 5e-4
        self.gamma = 0.99
        self.grad_clip = 10.0
        self.grad_clip_by = "global_norm"
        self.add_default_connectors_to_learner_pipeline = False
        self.num_env_runners = 0
        self.create_env_on_local_worker = False
        # QMIX-specific settings (set through .qmix()).
        self.qmix_algorithm = "qmix"
        cql = CQLConfig()
        self.cql_kind = cql.kind
        self.cql_weight = cql.weight
        self.cql_temperature = cql.temperature
        self.cql_samples = cql.samples
        self.td_lambda = 0.0
        self.reward_scale = 1.0
        self.double_q = True
        self.target_update_interval = 200
        self.batch_size_episodes = 32
        self.updates_per_iteration = 100
        self.net: NetSpec | None = None
        self.datasets: list[tuple[str, float]] = []
        self.dataset_fingerprints: list[str] = []
        self.data_root = ""
        self.data_seed = 0
        self.mixture_seed = 0
        self.env_config: Any = None  # rayeaq.envs.config.EnvConfig
        self.eval_envs = 64
        self.eval_seed = 0
        self.rollout_workers = 0
        self.cpus_per_rollout_worker = 0.5
        self.torch_threads = 1

    def qmix(
        self,
        *,
        qmix_algorithm: str = NotProvided,
        cql_kind: str = NotProvided,
        cql_weight: float = NotProvided,
        cql_temperature: float = NotProvided,
        cql_samples: int = NotProvided,
        td_lambda: float = NotProvided,
        reward_scale: float = NotProvided,
        double_q: bool = NotProvided,
        target_update_interval: int = NotProvided,
        batch_size_episodes: int = NotProvided,
        updates_per_iteration: int = NotProvided,
        net: NetSpec = NotProvided,
        datasets: list[tuple[str, float]] = NotProvided,
        dataset_fingerprints: list[str] = NotProvided,
        data_root: str = NotProvided,
        data_seed: int = NotProvided,
        mixture_seed: int = NotProvided,
        env_config: Any = NotProvided,
        eval_envs: int = NotProvided,
        eval_seed: int = NotProvided,
        rollout_workers: int = NotProvided,
        cpus_per_rollout_worker: float = NotProvided,
        torch_threads: int = NotProvided,
    ) -> QMIXConfig:
        """Set the QMIX-specific options (RLlib's builder style: only the given ones change).

        ``datasets`` are ``(dir, weight)`` with ``dir`` relative to ``data_root`` (or absolute);
        ``dataset_fingerprints`` (one per dataset, or empty) are checked against the cards when the data loads.
        ``data_seed`` seeds the batch sampler, ``mixture_seed`` the choice of episodes in the mixture
        (:func:`rayeaq.data.reader.load_mixture`, for fractional weights); ``cql_*`` are
        :class:`~rayeaq.learners.qmix.config.CQLConfig`'s fields; ``reward_scale`` multiplies the training
        rewards (a number here: ``auto`` is resolved by :func:`rayeaq.learners.qmix.run.build_config`)."""
        for key, value in list(locals().items()):
            if key != "self" and value is not NotProvided:
                setattr(self, key, value)
        if self.net is not None:
            obs_space, act_space = spaces(self.net)
            self.environment(observation_space=obs_space, action_space=act_space)
            self.multi_agent(policies={MODULE_ID}, policy_mapping_fn=lambda agent_id, episode, **kw: MODULE_ID)
        return self

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self) -> Any:
        """The team module's spec from the current ``net``, ``gamma`` and ``double_q``."""
        from ray.rllib.core.rl_module.rl_module import RLModuleSpec

        from rayeaq.learners.qmix.ray_module import QMIXTeamModule

        if self.net is None:
            return RLModuleSpec(module_class=QMIXTeamModule)
        return module_spec(
            self.net, self.gamma, self.double_q, self.td_lambda, self.sampled_joint_actions, noise_seed=self.seed or 0
        )

    @property
    def sampled_joint_actions(self) -> int:
        """Joint actions the training forward pass samples per step (only for the joint conservative term)."""
        joint = self.qmix_algorithm == "qmix" and self.cql_kind == "joint" and self.cql_weight > 0
        return self.cql_samples if joint else 0

    @override(AlgorithmConfig)
    def get_default_learner_class(self) -> type:
        from rayeaq.learners.qmix.ray_learner import QMIXTorchLearner

        return QMIXTorchLearner

    @override(AlgorithmConfig)
    def validate(self) -> None:
        # RLlib warns once per process that QMIX "runs on the new API stack" and how to switch it off; this
        # algorithm exists only there (its RLModule and Learner), so every trial's log would carry a dead hint.
        log_once(f"{self.algo_class.__name__}_on_new_api_stack")
        super().validate()
        if self.net is None:
            self._value_error("QMIXConfig.qmix(net=NetSpec(...)) is required (sizes of the team networks)")
        if self.qmix_algorithm not in ("qmix", "bc"):
            self._value_error(f"qmix_algorithm must be 'qmix' or 'bc', got {self.qmix_algorithm!r}")
        if self.cql_kind not in ("agent", "joint"):
            self._value_error(f"cql_kind must be 'agent' or 'joint', got {self.cql_kind!r}")
        if self.qmix_algorithm == "bc" and cast(NetSpec, self.net).mixer:  # net checked above
            self._value_error("behaviour cloning uses no mixer: NetSpec(mixer=False)")


def dataset_sources(config: QMIXConfig) -> list[tuple[str | Path, float]]:
    """The config's datasets as ``(absolute dir, weight)``, each checked against its recorded fingerprint."""
    from rayeaq.core.errors import DatasetError
    from rayeaq.data.card import read_card

    root = Path(config.data_root) if config.data_root else Path.cwd()
    sources: list[tuple[str | Path, float]] = [(root / path, weight) for path, weight in config.datasets]
    for (path, _), expected in zip(sources, config.dataset_fingerprints, strict=False):
        found = read_card(path).fingerprint
        if found != expected:
            raise DatasetError(
                f"{Path(path) / 'card.json'}: field fingerprint: expected {expected} (the dataset this run trained "
                f"on), found {found}; give the data tree that holds it (data_root)"
            )
    return sources


def to_train_batch(arrays: dict[str, np.ndarray], num_shards: int) -> list[MultiAgentBatch]:
    """Padded sequence arrays ``[B, T, ...]`` -> ``num_shards`` MultiAgentBatches split by episodes."""
    b = arrays["obs"].shape[0]
    bounds = np.linspace(0, b, num_shards + 1).astype(int)
    out = []
    for lo, hi in itertools.pairwise(bounds):
        part = {k: v[lo:hi] for k, v in arrays.items()}
        steps = int(part["filled"].sum())
        out.append(MultiAgentBatch({MODULE_ID: SampleBatch(part)}, env_steps=steps))
    return out


class QMIX(Algorithm):
    """Offline QMIX/BC: ``train()`` = ``updates_per_iteration`` LearnerGroup updates; ``evaluate()`` = greedy rollouts."""

    @classmethod
    @override(Algorithm)
    def get_default_config(cls) -> QMIXConfig:
        return QMIXConfig()

    @override(Algorithm)
    def setup(self, config: QMIXConfig) -> None:
        torch.set_num_threads(config.torch_threads)
        super().setup(config)
        self._sampler: EpisodeSampler | None = None
        self.dataset_stats: dict[str, float] = {}
        self._rollout: RolloutRunner | None = None
        self._env_steps_trained = 0
        if self.config.datasets:
            from rayeaq.data.reader import load_mixture

            sources = dataset_sources(self.config)
            episodes, datasets = load_mixture(sources, seed=self.config.mixture_seed)
            self.set_episodes(episodes, max_return=datasets[0].card.max_return)

    def set_episodes(self, episodes: Any, max_return: float) -> None:
        """Train on these episodes (an :class:`EpisodeBatch`); records the data's own return and win rate."""
        self._sampler = EpisodeSampler(episodes, seed=self.config.data_seed)
        states = torch.from_numpy(episodes.state[episodes.filled])
        self.learner_group.foreach_learner(
            lambda learner: learner.module[MODULE_ID].unwrapped().nets.fit_state_normaliser(states)
        )
        mean = float(episodes.episode_return.mean())
        self.dataset_stats = {
            "dataset_episodes": len(episodes),
            "dataset_return_mean": mean,
            "dataset_normalized_return": mean / max_return,
            "dataset_win_rate": float(episodes.battle_won.mean()),
        }

    @override(Algorithm)
    def training_step(self) -> None:
        if self._sampler is None:
            raise RuntimeError("QMIX has no data: give QMIXConfig.qmix(datasets=...) or call set_episodes()")
        shards = max(1, self.config.num_learners)
        for _ in range(self.config.updates_per_iteration):
            arrays = self._sampler.sample(self.config.batch_size_episodes)
            if self.config.reward_scale != 1.0:
                arrays["reward"] = arrays["reward"] * np.float32(self.config.reward_scale)
            batches = to_train_batch(arrays, shards)
            self._env_steps_trained += sum(b.env_steps() for b in batches)
            timesteps = {NUM_ENV_STEPS_SAMPLED_LIFETIME: self._env_steps_trained}
            if shards == 1:
                results = self.learner_group.update(batch=batches[0], timesteps=timesteps)
            else:
                results = self.learner_group.update(batches=batches, timesteps=timesteps)
            self.metrics.aggregate(results, key=LEARNER_RESULTS)

    # ---- checkpoint state ---------------------------------------------------------------------------
    @override(Algorithm)
    def get_state(self, *args: Any, **kwargs: Any) -> dict:
        """RLlib's state plus the sampler's RNG state and the trained env-step count (exact resume)."""
        state = super().get_state(*args, **kwargs)
        if self._sampler is not None:
            state[SAMPLER_STATE] = {"rng": self._sampler.get_state(), "env_steps_trained": self._env_steps_trained}
        return state

    @override(Algorithm)
    def set_state(self, state: dict) -> None:
        super().set_state(state)
        if SAMPLER_STATE in state and self._sampler is not None:
            self._sampler.set_state(state[SAMPLER_STATE]["rng"])
            self._env_steps_trained = int(state[SAMPLER_STATE]["env_steps_trained"])

    # ---- evaluation -------------------------------------------------------------------------------
    def greedy_policy(self):
        """The current greedy policy (weights pulled from the LearnerGroup)."""
        from rayeaq.learners.qmix.policy import GreedyPolicy

        return GreedyPolicy.from_state(self.config.net, self.net_state())

    def net_state(self) -> dict[str, np.ndarray]:
        """State dict of the team networks (numpy), from the first learner."""
        try:
            weights = self.learner_group.get_weights(module_ids=[MODULE_ID])[MODULE_ID]
        except IndexError:  # RLlib answers "no healthy remote learner left" with an empty result list
            if self.learner_group.is_local:
                raise
            raise LearnerDiedError("the remote learner is gone (no healthy learner answered get_weights)") from None
        return {k[len("nets.") :]: np.asarray(v) for k, v in weights.items() if k.startswith("nets.")}

    @override(Algorithm)
    def evaluate(self, parallel_train_future: Any = None) -> dict:
        """Greedy decentralised rollouts on ``evaluation_duration`` fixed seeds -> ``{"evaluation": metrics}``."""
        metrics, _ = self.evaluate_episodes(int(self.config.evaluation_duration))
        return {"evaluation": metrics}

    def evaluate_episodes(self, episodes: int):
        """(metrics, per-episode :class:`RolloutResult`) of ``episodes`` greedy episodes with fixed seeds
        ``eval_seed + i``; metrics carry the training data's own mean return and win rate beside them."""
        from rayeaq.learners.qmix.ray_rollout import RolloutRunner

        if self._rollout is None:
            c = self.config
            self._rollout = RolloutRunner(
                c.env_config,
                c.net,
                c.eval_envs,
                c.rollout_workers,
                c.cpus_per_rollout_worker,
                torch_threads=c.torch_threads,
            )
        seeds = (self.config.eval_seed + np.arange(episodes, dtype=np.int64)) % (2**31 - 1)
        result = self._rollout.run(self.net_state(), seeds)
        metrics = result.summary(self._rollout.max_return)
        metrics.update(self.dataset_stats)
        return metrics, result

    @override(Algorithm)
    def restore_from_path(self, path: Any, *args: Any, **kwargs: Any) -> None:
        """RLlib's Checkpointable restore, minus Algorithm's EnvRunner weight sync (there are no EnvRunners)."""
        super(Algorithm, self).restore_from_path(path, *args, **kwargs)

    @override(Algorithm)
    def cleanup(self) -> None:
        if self._rollout is not None:
            self._rollout.close()
            self._rollout = None
        super().cleanup()


def restore(checkpoint_dir: str | Path, data_root: str | Path | None = None) -> QMIX:
    """``QMIX.from_checkpoint`` (RLlib); the datasets named in the saved config are reloaded, from ``data_root``
    when given (a moved data tree: the same relative paths and fingerprints), else from the recorded root."""
    path = str(Path(checkpoint_dir).resolve())
    if data_root is None:
        return QMIX.from_checkpoint(path)
    with (Path(path) / QMIX.CLASS_AND_CTOR_ARGS_FILE_NAME).open("rb") as f:
        config_state = dict(pickle.load(f)["ctor_args_and_kwargs"][0][0])  # Algorithm's ctor arg: config state
    config_state["data_root"] = str(Path(data_root).resolve())
    return QMIX.from_checkpoint(path, config=config_state)
