"""Objectives and step-able trainers."""
from ebm_engine.training.contrastive_divergence import CDConfig, CDStats, ContrastiveDivergence
from ebm_engine.training.replay_buffer import ReplayBuffer

__all__ = ["CDConfig", "CDStats", "ContrastiveDivergence", "ReplayBuffer"]
