"""Command lines: ``python -m dipnb.pix2pix.train`` (:mod:`.train`) and ``python -m dipnb.pix2pix.evaluate`` (:mod:`.evaluate`)."""
