"""JAX/Brax re-creation of imitation.scripts.train_rl."""
