"""JAX/Brax re-creation of imitation.scripts.train_rl."""

from jaxrl_expert.checkpoints import load_policy

__all__ = ["load_policy"]
