"""rayeaq: Ray-distributed diffusion episode augmentation (EAQ) for offline cooperative MARL."""

__version__ = "0.1.0"
