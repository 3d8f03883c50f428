"""Partner connectors: one module per partner, listed explicitly in `registry`."""
