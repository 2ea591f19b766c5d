"""What jobs compute for their snapshots, apart from the jobs themselves: chain trails, curve tails, grid
densities, score fields, the rolling latent density, OOD scoring and the settling of a loaded replay buffer."""
