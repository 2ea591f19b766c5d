"""Objectives and step-able trainers."""
from ebm_engine.training.contrastive_divergence import CDConfig, CDStats, ContrastiveDivergence
from ebm_engine.training.jem_trainer import JEMConfig, JEMStats, JEMTrainer
from ebm_engine.training.rbm_trainer import RBMConfig, RBMStats, RBMTrainer
from ebm_engine.training.replay_buffer import ReplayBuffer

__all__ = ["CDConfig", "CDStats", "ContrastiveDivergence", "JEMConfig", "JEMStats", "JEMTrainer",
           "RBMConfig", "RBMStats", "RBMTrainer", "ReplayBuffer"]
