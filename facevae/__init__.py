"""facevae — learning, classifying, reconstructing and editing facial expressions with VAEs."""

__version__ = "0.1.0"
