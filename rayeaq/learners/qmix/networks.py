"""The team's networks: shared agent network + mixer, with target copies. Pure torch (no Ray).

:class:`QMIXNetworks` is what the RLlib module wraps, what checkpoints hold and what the greedy
policy runs; the same class serves QMIX/CQL (with a mixer) and BC (agent network only).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn

from rayeaq.learners.qmix.agent import RNNAgent
from rayeaq.learners.qmix.controller import (
    build_inputs,
    input_dim,
    masked_argmax,
    shift_actions,
)
from rayeaq.learners.qmix.losses import TrainOutputs, td_lambda_targets
from rayeaq.learners.qmix.mixer import QMixer


def sample_legal_q(
    q: torch.Tensor, avail: torch.Tensor, k: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Q-values of ``k`` joint actions drawn per row, each agent uniform over its legal actions.

    q ``[*L, N, A]``, avail ``[*L, N, A]`` bool -> ``[*L, K, N]`` (a row with no legal action, i.e. padding, draws
    uniformly over all actions; the losses mask it). ``generator``: torch's global RNG when None.
    """
    *lead, n, a = q.shape
    legal = avail | ~avail.any(-1, keepdim=True)
    idx = torch.multinomial(legal.reshape(-1, a).to(q.dtype), k, replacement=True, generator=generator)  # [L*N, K]
    picked = q.gather(-1, idx.reshape(*lead, n, k))  # [*L, N, K]
    return picked.transpose(-1, -2)


def mix_with_samples(
    mixer: QMixer,
    chosen: torch.Tensor,
    q: torch.Tensor,
    avail: torch.Tensor,
    state: torch.Tensor,
    k: int,
    generator: torch.Generator | None = None,
    rows: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Q_tot of the data's joint action and of ``k`` sampled legal joint actions, in one mixer pass.

    chosen ``[B, T', N]``, q / avail ``[B, T', N, A]``, state ``[B, T', Ds]`` (normalised) -> (q_tot ``[B, T']``,
    sampled ``[B, T', K]``). The hyper-networks run once per state for all ``k + 1`` joint actions. ``rows``
    ``[B, T']`` bool: mix (and sample) only there, zeros elsewhere (the padding the losses mask; boolean indexing
    reads the row count back to the host, so callers on an accelerator pass None: every row).
    """
    if rows is not None:
        chosen, q, avail, state = chosen[rows], q[rows], avail[rows], state[rows]  # [R, ...]
    joint = torch.cat([chosen.unsqueeze(-2), sample_legal_q(q, avail, k, generator)], dim=-2)  # [*L, K + 1, N]
    mixed = mixer.forward_samples(joint, state)  # [*L, K + 1]
    if rows is not None:
        full = mixed.new_zeros(*rows.shape, k + 1)
        full[rows] = mixed
        mixed = full
    return mixed[..., 0], mixed[..., 1:]


@dataclass(frozen=True)
class NetSpec:
    """Sizes and input options of the team networks (stored with every checkpoint)."""

    n_agents: int
    n_actions: int
    obs_dim: int
    state_dim: int
    hidden_dim: int = 64
    mixing_embed_dim: int = 32
    hypernet_embed: int = 64
    obs_last_action: bool = True
    obs_agent_id: bool = True
    mixer: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


class QMIXNetworks(nn.Module):
    """Online agent network (+ mixer) and their target copies (no gradients)."""

    state_mean: torch.Tensor  # registered buffers
    state_std: torch.Tensor

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.spec = spec
        din = input_dim(spec.obs_dim, spec.n_agents, spec.n_actions, spec.obs_last_action, spec.obs_agent_id)
        self.agent = RNNAgent(din, spec.n_actions, spec.hidden_dim)
        self.mixer = (
            QMixer(spec.n_agents, spec.state_dim, spec.mixing_embed_dim, spec.hypernet_embed) if spec.mixer else None
        )
        self.target_agent = copy.deepcopy(self.agent).requires_grad_(False)
        self.target_mixer = copy.deepcopy(self.mixer).requires_grad_(False) if self.mixer is not None else None
        # Global-state normaliser for the mixer, fitted on the training data (real and synthetic alike) and
        # saved with the weights: SMAX states hold absolute positions (~0..32), which would otherwise put
        # the initial Q_tot an order of magnitude above the largest possible return (2.0).
        self.register_buffer("state_mean", torch.zeros(spec.state_dim))
        self.register_buffer("state_std", torch.ones(spec.state_dim))

    @torch.no_grad()
    def fit_state_normaliser(self, states: torch.Tensor) -> None:
        """Set the normaliser from states ``[M, Ds]`` (the filled rows of the training data).

        A feature that is constant in the training data keeps std 1 (only centred): divided by a clamped
        near-zero std it would jump by ~1000 the first time an evaluation or held-out episode moves it.
        """
        std = states.std(0)
        self.state_mean.copy_(states.mean(0))
        self.state_std.copy_(torch.where(std < 1e-6, torch.ones_like(std), std.clamp(min=1e-3)))

    def norm_state(self, state: torch.Tensor) -> torch.Tensor:
        return (state - self.state_mean) / self.state_std

    # ---- acting --------------------------------------------------------------------------------
    def inputs(self, obs: torch.Tensor, last_actions: torch.Tensor | None) -> torch.Tensor:
        """Agent inputs ``[*L, N, Din]`` from obs ``[*L, N, Do]`` and last actions ``[*L, N]`` (-1 = none)."""
        return build_inputs(
            obs, last_actions if self.spec.obs_last_action else None, self.spec.n_actions, self.spec.obs_agent_id
        )

    @torch.no_grad()
    def act(
        self, obs: torch.Tensor, avail: torch.Tensor, hidden: torch.Tensor | None, last_actions: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decentralised greedy step: obs ``[B, N, Do]``, avail ``[B, N, A]``, hidden ``[B, N, H]`` or None,
        last_actions ``[B, N]`` (-1 at the first step) -> (actions ``[B, N]`` int64, hidden ``[B, N, H]``)."""
        if last_actions is None:
            last_actions = torch.full(obs.shape[:-1], -1, dtype=torch.long, device=obs.device)
        q, hidden = self.agent.forward_step(self.inputs(obs, last_actions), hidden)
        return masked_argmax(q, avail), hidden

    # ---- training ------------------------------------------------------------------------------
    def train_outputs(
        self,
        batch: dict[str, torch.Tensor],
        gamma: float,
        double_q: bool = True,
        td_lambda: float = 0.0,
        cql_samples: int = 0,
        generator: torch.Generator | None = None,
    ) -> TrainOutputs:
        """One pass over a sequence batch.

        batch: obs ``[B,T,N,Do]``, state ``[B,T,Ds]``, avail_actions ``[B,T,N,A]`` bool, actions ``[B,T,N]``
        int, reward ``[B,T]``, terminated ``[B,T]``, filled ``[B,T]`` (rows as in :mod:`rayeaq.data.batch`).
        The target at row t uses row t + 1 (for the last step, the terminal observation at ``length``);
        ``td_lambda > 0``: lambda-returns over the episode (:func:`~rayeaq.learners.qmix.losses.td_lambda_targets`).
        ``cql_samples = K > 0`` also mixes K joint actions per step, each agent uniform over its legal actions
        (``sampled_q_tot [B, T', K]``, for the joint conservative term; drawn with ``generator``, torch's global
        RNG when None), in the same mixer pass as the data's action (:func:`mix_with_samples`); on the CPU only
        the step rows are mixed then, and ``q_tot`` and ``sampled_q_tot`` are 0 on padding rows.
        """
        obs, actions, avail = batch["obs"], batch["actions"].long(), batch["avail_actions"].bool()
        inputs = self.inputs(obs, shift_actions(actions))
        q, _ = self.agent.forward_seq(inputs)  # [B, T, N, A]
        step_actions = actions[:, :-1]
        chosen = q[:, :-1].gather(-1, step_actions.unsqueeze(-1)).squeeze(-1)  # [B, T', N]
        mask = batch["filled"][:, :-1].to(q.dtype)
        q_tot = target = sampled = None
        if self.mixer is not None:
            state = self.norm_state(batch["state"])
            if cql_samples > 0:  # the step rows only on the CPU (see mix_with_samples)
                rows = batch["filled"][:, :-1].bool() if q.device.type == "cpu" else None
                q_tot, sampled = mix_with_samples(
                    self.mixer, chosen, q[:, :-1], avail[:, :-1], state[:, :-1], cql_samples, generator, rows
                )
            else:
                q_tot = self.mixer(chosen, state[:, :-1])
            with torch.no_grad():
                q_tgt, _ = self.target_agent.forward_seq(inputs)
                chooser = q.detach() if double_q else q_tgt
                best = masked_argmax(chooser[:, 1:], avail[:, 1:])  # [B, T', N]
                next_q = q_tgt[:, 1:].gather(-1, best.unsqueeze(-1)).squeeze(-1)
                assert self.target_mixer is not None  # built together with the mixer
                next_tot = self.target_mixer(next_q, state[:, 1:])
                target = td_lambda_targets(
                    batch["reward"][:, :-1].to(q.dtype),
                    batch["terminated"][:, :-1],
                    batch["filled"][:, 1:],
                    next_tot,
                    gamma,
                    td_lambda,
                )
        return TrainOutputs(
            q=q[:, :-1],
            chosen_q=chosen,
            avail=avail[:, :-1],
            actions=step_actions,
            mask=mask,
            q_tot=q_tot,
            target=target,
            sampled_q_tot=sampled,
        )

    @torch.no_grad()
    def update_targets(self) -> None:
        """Hard copy of the online networks into the targets."""
        self.target_agent.load_state_dict(self.agent.state_dict())
        if self.mixer is not None:
            assert self.target_mixer is not None  # built together with the mixer
            self.target_mixer.load_state_dict(self.mixer.state_dict())
