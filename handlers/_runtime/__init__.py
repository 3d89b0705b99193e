"""The private worker runtime; :mod:`handlers` re-exports its public names."""
