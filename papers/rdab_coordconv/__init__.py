"""rdab_coordconv: light-weight residual dense attention net with CoordConv (NTIRE 2020, clean track)."""
