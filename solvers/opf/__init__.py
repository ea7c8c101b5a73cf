"""Network-constrained DER dispatch: LP builder, formulations, AC verification."""
