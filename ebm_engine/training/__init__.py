"""Objectives and step-able trainers."""
from ebm_engine.training.contrastive_divergence import CDConfig, CDStats, ContrastiveDivergence
from ebm_engine.training.ebm_generator import EBMGeneratorConfig, EBMGeneratorStats, EBMGeneratorTrainer
from ebm_engine.training.rbm_trainer import RBMConfig, RBMStats, RBMTrainer
from ebm_engine.training.replay_buffer import ReplayBuffer

__all__ = ["CDConfig", "CDStats", "ContrastiveDivergence", "EBMGeneratorConfig", "EBMGeneratorStats",
           "EBMGeneratorTrainer", "RBMConfig", "RBMStats", "RBMTrainer",
           "ReplayBuffer"]
