"""Paired datasets: A|B files (:mod:`.pairs`), the synthetic facades (:mod:`.synthetic`), the downloader
(:mod:`.download`) and where a named dataset lives (:mod:`.registry`)."""

from dipnb.pix2pix.datasets.pairs import PairedImageDataset, split_pair, to_model_tensor, to_uint8_image
from dipnb.pix2pix.datasets.registry import dataset_fingerprint, dataset_summary, resolve_dataset

__all__ = ["PairedImageDataset", "dataset_fingerprint", "dataset_summary", "resolve_dataset", "split_pair",
           "to_model_tensor", "to_uint8_image"]
