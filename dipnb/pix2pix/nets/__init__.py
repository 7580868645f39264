"""The networks: the FCN (one student's solution of the course's blank), pix2pix's U-Net generator and PatchGAN discriminator, and their helpers."""

from dipnb.pix2pix.nets.fcn import COURSE_CHANNELS, FCN
from dipnb.pix2pix.nets.patchgan import PATCH_SIZES, PatchGAN
from dipnb.pix2pix.nets.unet import UNetGenerator, unet_num_downs
from dipnb.pix2pix.nets.util import count_parameters, generator_mode, init_weights, receptive_field, unwrap

__all__ = ["COURSE_CHANNELS", "FCN", "PATCH_SIZES", "PatchGAN", "UNetGenerator", "count_parameters",
           "generator_mode", "init_weights", "receptive_field", "unet_num_downs", "unwrap"]
