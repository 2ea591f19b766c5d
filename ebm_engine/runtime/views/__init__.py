"""What jobs compute for their snapshots, apart from the jobs themselves: chain trails, training curves, grid
densities, score fields, the rolling latent density and the settling of a loaded replay buffer."""
