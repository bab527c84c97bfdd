"""The swap model (inswapper): latent, batched inference, output checks."""
