"""upscale: classic super-resolution networks behind one command-line tool."""

__version__ = "0.1.0"
