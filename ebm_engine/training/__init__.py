"""Objectives and step-able trainers."""
from ebm_engine.training.contrastive_divergence import CDConfig, CDStats, ContrastiveDivergence
from ebm_engine.training.ebm_generator import EBMGeneratorConfig, EBMGeneratorStats, EBMGeneratorTrainer
from ebm_engine.training.latent_trainer import LatentEBMConfig, LatentEBMStats, LatentEBMTrainer
from ebm_engine.training.jem_trainer import JEMConfig, JEMStats, JEMTrainer
from ebm_engine.training.rbm_trainer import RBMConfig, RBMStats, RBMTrainer
from ebm_engine.training.replay_buffer import ReplayBuffer
from ebm_engine.training.score_matching import (denoising_score_matching_loss, exact_score_matching_loss,
                                                sliced_score_matching_loss)
from ebm_engine.training.score_trainer import ScoreMatching, ScoreMatchingConfig, ScoreMatchingStats

__all__ = ["CDConfig", "CDStats", "ContrastiveDivergence", "EBMGeneratorConfig", "EBMGeneratorStats",
           "EBMGeneratorTrainer", "JEMConfig", "JEMStats", "JEMTrainer", "LatentEBMConfig", "LatentEBMStats",
           "LatentEBMTrainer", "RBMConfig", "RBMStats", "RBMTrainer", "ReplayBuffer", "ScoreMatching",
           "ScoreMatchingConfig", "ScoreMatchingStats", "denoising_score_matching_loss", "exact_score_matching_loss",
           "sliced_score_matching_loss"]
