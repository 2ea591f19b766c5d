"""Data: 2D toy sets (``toy2d``), digit images (``digits``), IDX / MNIST-folder loaders (``idx``), OOD sets
(``ood``) and one user image (``user_image``). All image loaders return a ``DigitSplit``.
"""
from ebm_engine.data import toy2d
from ebm_engine.data.digits import DigitSplit, load_digits_binary, load_digits_grey
from ebm_engine.data.idx import IDXFileMissingError, IDXFormatError, load_mnist_folder, read_idx
from ebm_engine.data.ood import OOD_SET_NAMES, OODSetError, load_user_images, make_ood_set
from ebm_engine.data.user_image import UserImageError, decode_png, rasterize_strokes
from ebm_engine.data.toy2d import NAMES as TOY2D_NAMES

__all__ = ["toy2d", "TOY2D_NAMES", "DigitSplit", "load_digits_binary", "load_digits_grey",
           "IDXFormatError", "IDXFileMissingError", "read_idx", "load_mnist_folder",
           "OOD_SET_NAMES", "OODSetError", "load_user_images", "make_ood_set", "UserImageError", "decode_png",
           "rasterize_strokes"]
