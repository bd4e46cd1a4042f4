"""Tuned configs, one ml_collections file per env; installed as `jaxrl_expert.configs`."""
