"""The paper's architectures, one module each, built from paper-notation strings (arch.py)."""
