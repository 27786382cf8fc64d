"""Offline MARL via sequential score decomposition (arXiv 2505.05968) as a pure torch core (no Ray, no JAX).

``iql`` (stage 1a: centralised IQL critic), ``score`` (stage 1b: per-agent conditional score models), ``actors``
(stage 2: round-robin deterministic actors), ``stages`` (stage units and the artifact), ``config`` (OmsdConfig).
Not yet registered in :data:`rayeaq.learners.LEARNERS` (needs the continuous-action sampler and evaluator).
"""
