"""The training engine: the loop (:mod:`.trainer`), what it reports (:mod:`.callbacks`), the run folder it owns
(:mod:`.run`: file names, checkpoint, history, resume/overwrite decisions) and the trained-model cache (:mod:`.cache`)."""

from dipnb.pix2pix.engine.callbacks import (
    Callback,
    Checkpoint,
    HistoryCSV,
    LiveLossPlot,
    Progress,
    Samples,
    default_callbacks,
)
from dipnb.pix2pix.engine.run import (
    CHECKPOINT_NAME,
    HISTORY_NAME,
    CheckpointError,
    RunFolder,
    checkpoint_config,
    load_checkpoint,
    read_history,
)
from dipnb.pix2pix.engine.trainer import NonFiniteLossError, Trainer, train

__all__ = ["CHECKPOINT_NAME", "HISTORY_NAME", "Callback", "Checkpoint", "CheckpointError", "HistoryCSV",
           "LiveLossPlot", "NonFiniteLossError", "Progress", "RunFolder", "Samples", "Trainer", "checkpoint_config",
           "default_callbacks", "load_checkpoint", "read_history", "train"]
