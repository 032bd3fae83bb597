"""Pixels: colour conversion, the MATLAB-exact resize, image files in and out, tensor layout."""
