"""Learned reward nets (Flax) and imitation's load_reward."""

from jaxrl_expert.rewards.nets import (
    AddSTDRewardWrapper,
    BasicRewardNet,
    BasicShapedRewardNet,
    CnnRewardNet,
    NormalizedRewardNet,
    RewardEnsemble,
    ShapedRewardNet,
)
from jaxrl_expert.rewards.serialize import (
    REWARD_TYPES,
    LearnedReward,
    init_reward_net,
    load_reward,
    load_reward_net,
    save_reward_net,
)

__all__ = [
    "REWARD_TYPES",
    "AddSTDRewardWrapper",
    "BasicRewardNet",
    "BasicShapedRewardNet",
    "CnnRewardNet",
    "LearnedReward",
    "NormalizedRewardNet",
    "RewardEnsemble",
    "ShapedRewardNet",
    "init_reward_net",
    "load_reward",
    "load_reward_net",
    "save_reward_net",
]
