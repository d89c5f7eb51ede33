"""fr-example-reward: a minimal FineRewards plugin (the colourfulness metric)."""
