"""`make chaos`: the money rules proven under load while processes die and the gateway fails."""
