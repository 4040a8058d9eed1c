"""Planning (pure): turn forecast quantiles and pod sizing into a floor timeline."""
