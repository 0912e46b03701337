"""evalkit: evaluate fine-tuned text-generation models and train the candidates."""

__version__ = "0.1.0"
