"""uqlens: see what LLM uncertainty scores really measure.

Importing the package is cheap on purpose: torch, transformers, sentence-transformers and
umap are imported inside the functions that need them.
"""

__version__ = "0.1.0"
