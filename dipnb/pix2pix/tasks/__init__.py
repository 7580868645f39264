"""Training tasks: what is optimised (the networks, losses and one step). :func:`task_class` picks one."""

from dipnb.config import TrainConfig
from dipnb.pix2pix.tasks.base import RESERVED_COLUMNS, GeneratorFactory, Task, build_generator, generator_name
from dipnb.pix2pix.tasks.epochs import EpochFunctionsTask
from dipnb.pix2pix.tasks.gan import GANLoss, GANTask, discriminator_step, generator_step, pix2pix_step
from dipnb.pix2pix.tasks.l1 import L1Task

__all__ = ["EpochFunctionsTask", "GANLoss", "GANTask", "GeneratorFactory", "L1Task", "RESERVED_COLUMNS", "Task",
           "build_generator", "discriminator_step", "generator_name",
           "generator_step", "pix2pix_step", "task_class"]


def task_class(config: TrainConfig) -> type[Task]:
    """:class:`GANTask` when ``config.gan``, else :class:`L1Task`."""
    return GANTask if config.gan else L1Task
