"""RLlib adapter: the offline continuous-action algorithms — a shared base (:class:`ContinuousOfflineConfig`,
:class:`ContinuousOffline`) and MA-TD3+BC (:class:`TD3BCConfig`, :class:`TD3BC`); MA-CQL
(:mod:`rayeaq.learners.cql.ray_algorithm`) is the base with another module class and loss settings.

The same mapping onto RLlib 2.60 as :mod:`rayeaq.learners.qmix.ray_algorithm`: learning is RLlib's (a team
:class:`~rayeaq.learners.td3bc.ray_module.TD3TeamModule` trained by
:class:`~rayeaq.learners.td3bc.ray_learner.TD3BCTorchLearner` through the ``LearnerGroup``); data comes from our
reader through a :class:`~rayeaq.learners.td3bc.transitions.TransitionSampler` (no EnvRunners, no OfflineData);
``evaluate()`` runs greedy rollouts on the vmapped MPE in the driver; checkpoints are RLlib's
(``save_to_path`` / ``Algorithm.from_checkpoint``; the dataset is reloaded from the config on restore).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import LEARNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

from rayeaq.learners.td3bc.networks import NetSpec
from rayeaq.learners.td3bc.ray_module import MODULE_ID, TD3TeamModule, module_spec, spaces
from rayeaq.learners.td3bc.transitions import TransitionSampler


class ContinuousOfflineConfig(AlgorithmConfig):
    """What every offline continuous-action learner needs: data, network sizes, evaluation. A subclass names its
    algorithm, its team module and the loss settings the module reads (``LOSS_FIELDS``, attributes of the config)."""

    LOSS_FIELDS: ClassVar[tuple[str, ...]] = ("gamma", "policy_freq")
    MODULE_CLASS: ClassVar[type] = TD3TeamModule

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or self.default_algo_class())
        self._is_online = False
        self.lr = 3e-4
        self.gamma = 0.99
        self.grad_clip = None
        self.add_default_connectors_to_learner_pipeline = False
        self.num_env_runners = 0
        self.create_env_on_local_worker = False
        self.tau = 0.005
        self.policy_freq = 1
        self.batch_size_transitions = 256
        self.updates_per_iteration = 100
        self.net: NetSpec | None = None
        self.datasets: list[tuple[str, float]] = []
        self.data_seed = 0
        self.mixture_seed = 0
        self.map_name = "omar_spread"
        self.eval_envs = 100
        self.eval_seed = 10_000_000
        self.torch_threads = 1
        self.reward_scale: float | str = 1.0

    @classmethod
    def default_algo_class(cls) -> type:
        return ContinuousOffline

    def offline(self, **options: Any) -> ContinuousOfflineConfig:
        """Set options of this config (RLlib's builder style: only the given ones change; an unknown name fails)."""
        for key, value in options.items():
            if key.startswith("_") or not hasattr(self, key):
                raise ValueError(f"{type(self).__name__} has no option {key!r}")
            setattr(self, key, value)
        if self.net is not None:
            obs_space, act_space = spaces(self.net)
            self.environment(observation_space=obs_space, action_space=act_space)
            self.multi_agent(policies={MODULE_ID}, policy_mapping_fn=lambda agent_id, episode, **kw: MODULE_ID)
        return self

    def loss_settings(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.LOSS_FIELDS}

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self) -> Any:
        from ray.rllib.core.rl_module.rl_module import RLModuleSpec

        if self.net is None:
            return RLModuleSpec(module_class=self.MODULE_CLASS)
        return module_spec(self.net, self.loss_settings(), self.MODULE_CLASS)

    @override(AlgorithmConfig)
    def get_default_learner_class(self) -> type:
        from rayeaq.learners.td3bc.ray_learner import TD3BCTorchLearner

        return TD3BCTorchLearner

    @override(AlgorithmConfig)
    def validate(self) -> None:
        super().validate()
        if self.net is None:
            self._value_error(f"{type(self).__name__}.offline(net=NetSpec(...)) is required (network sizes)")


class ContinuousOffline(Algorithm):
    """``train()`` = ``updates_per_iteration`` LearnerGroup updates on uniform transitions; ``evaluate()`` =
    greedy rollouts on ``evaluation_duration`` held-out seeds."""

    @override(Algorithm)
    def setup(self, config: ContinuousOfflineConfig) -> None:
        torch.set_num_threads(config.torch_threads)
        super().setup(config)
        self._sampler: TransitionSampler | None = None
        self.reference: dict[str, float] = {}
        self.dataset_stats: dict[str, float | None] = {}
        self._steps = 0
        if self.config.datasets:
            from rayeaq.data.reader import load_mixture

            episodes, datasets = load_mixture(self.config.datasets, seed=self.config.mixture_seed)
            self.set_episodes(episodes, reference=datasets[0].card.reference_returns)

    def set_episodes(self, episodes: Any, reference: dict[str, float] | None = None) -> None:
        """Train on these box-action episodes; fits the observation normaliser on their transitions."""
        from rayeaq.data.card import normalized_score
        from rayeaq.learners.td3bc.transitions import resolve_reward_scale

        scale = resolve_reward_scale(episodes, self.config.reward_scale, self.config.gamma)
        self._sampler = TransitionSampler(episodes, seed=self.config.data_seed, reward_scale=scale)
        obs = torch.from_numpy(self._sampler.arrays["obs"])
        self.learner_group.foreach_learner(
            lambda learner: learner.module[MODULE_ID].unwrapped().nets.fit_obs_normaliser(obs)
        )
        self.reference = dict(reference or {})
        mean = float(episodes.episode_return.mean())
        self.dataset_stats = {
            "dataset_episodes": len(episodes),
            "dataset_return_mean": mean,
            "dataset_normalized_score": normalized_score(mean, self.reference),
            "reward_scale": scale,
        }

    @override(Algorithm)
    def training_step(self) -> None:
        if self._sampler is None:
            raise RuntimeError(f"{type(self).__name__} has no data: give .offline(datasets=...) or call set_episodes()")
        for _ in range(self.config.updates_per_iteration):
            sample = self._sampler.sample(self.config.batch_size_transitions)
            self._steps += len(sample["done"])
            batch = MultiAgentBatch({MODULE_ID: SampleBatch(sample)}, env_steps=len(sample["done"]))
            results = self.learner_group.update(batch=batch, timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: self._steps})
            self.metrics.aggregate(results, key=LEARNER_RESULTS)

    def actor_state(self) -> dict[str, np.ndarray]:
        """State dict of the team networks (numpy), from the first learner."""
        weights = self.learner_group.get_weights(module_ids=[MODULE_ID])[MODULE_ID]
        return {k[len("nets.") :]: np.asarray(v) for k, v in weights.items() if k.startswith("nets.")}

    def greedy_act(self):
        """``obs [B, N, Do]`` numpy -> greedy actions ``[B, N, Da]`` (a copy of the current networks)."""
        from rayeaq.learners.td3bc.networks import TD3Networks

        nets = TD3Networks(self.config.net)
        nets.load_state_dict({k: torch.as_tensor(v) for k, v in self.actor_state().items()})
        return lambda obs: nets.act(torch.as_tensor(obs, dtype=torch.float32)).numpy()

    @override(Algorithm)
    def evaluate(self, parallel_train_future: Any = None) -> dict:
        return {"evaluation": self.evaluate_episodes(int(self.config.evaluation_duration))}

    def evaluate_episodes(self, episodes: int) -> dict[str, Any]:
        """Greedy rollouts on seeds ``eval_seed + i`` (held out from collection) with the data's figures beside."""
        from rayeaq.learners.td3bc.rollout import evaluate_greedy

        seeds = (self.config.eval_seed + np.arange(episodes, dtype=np.int64)) % (2**31 - 1)
        metrics = evaluate_greedy(self.greedy_act(), self.config.map_name, seeds, self.config.eval_envs, self.reference)
        metrics.update(self.dataset_stats)
        return metrics

    @override(Algorithm)
    def restore_from_path(self, path: Any, *args: Any, **kwargs: Any) -> None:
        """RLlib's Checkpointable restore, minus Algorithm's EnvRunner weight sync (there are no EnvRunners)."""
        super(Algorithm, self).restore_from_path(path, *args, **kwargs)


class TD3BCConfig(ContinuousOfflineConfig):
    """Offline MA-TD3+BC on a dataset mixture of box-action episodes (MPE)."""

    LOSS_FIELDS = ("gamma", "policy_noise", "noise_clip", "alpha", "policy_freq")
    MODULE_CLASS = TD3TeamModule

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class)
        self.policy_noise = 0.2
        self.noise_clip = 0.5
        self.policy_freq = 1
        self.alpha = 2.5

    @classmethod
    def default_algo_class(cls) -> type:
        return TD3BC


class TD3BC(ContinuousOffline):
    """MA-TD3+BC (:class:`TD3BCConfig`)."""

    @classmethod
    @override(Algorithm)
    def get_default_config(cls) -> TD3BCConfig:
        return TD3BCConfig()


def restore(checkpoint_dir: str | Path) -> Algorithm:
    """``Algorithm.from_checkpoint`` (RLlib) of a TD3BC or CQL run; the dataset named in the saved config is reloaded."""
    return Algorithm.from_checkpoint(str(Path(checkpoint_dir).resolve()))
