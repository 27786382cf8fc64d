"""DOM2 (papers/003): diffusion offline multi-agent model, as a pure torch core (no Ray, no JAX).

``solver`` (VP schedule, DPM-Solver-1), ``networks`` (residual noise network, twin critic), ``losses`` (Eq. 1, 3,
5), ``replicate`` (Algorithm 1), ``learner`` (Algorithm 2 over transition batches), ``config`` (Dom2Config).
Not yet registered in :data:`rayeaq.learners.LEARNERS` (needs the continuous-action sampler and evaluator).
"""
