"""Optional face restoration (GFPGAN) of the swapped face."""
