"""gridderms domain package: DER registry, configuration and command-line interface."""
