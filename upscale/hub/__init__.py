"""Weights from elsewhere: the weights format, the manifest, shipped files, downloads, ``--model auto``."""
