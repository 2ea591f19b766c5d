"""Multi-GPU and multi-node training with PyTorch's DistributedDataParallel (run under torchrun)."""
from ebm_engine.distributed.ddp_train import DDP_MODELS, train_ddp

__all__ = ["DDP_MODELS", "train_ddp"]
